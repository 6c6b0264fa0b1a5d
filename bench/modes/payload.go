package main

import (
	"encoding/binary"
	"time"
)

// headerLen is the part of every payload read back: the send time
// (UnixNano) and the sequence number, both big-endian uint64. The rest is
// filler up to -size. The layout is bench/loadgen's.
const headerLen = 16

// encodePayload returns a fresh size-byte payload (size >= headerLen)
// carrying sent and seq. Each publish gets its own slice: paho keeps a
// reference until the packet is written.
func encodePayload(size int, sent time.Time, seq int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b[0:8], uint64(sent.UnixNano()))
	binary.BigEndian.PutUint64(b[8:16], uint64(seq))
	for i := headerLen; i < size; i++ {
		b[i] = 'x'
	}
	return b
}

// decodePayload reads back what encodePayload wrote; ok is false when b is
// too short to be one of ours.
func decodePayload(b []byte) (sent time.Time, seq uint64, ok bool) {
	if len(b) < headerLen {
		return time.Time{}, 0, false
	}
	sent = time.Unix(0, int64(binary.BigEndian.Uint64(b[0:8])))
	return sent, binary.BigEndian.Uint64(b[8:16]), true
}
