// Package stamp is the payload layout of the benchmarks' messages: the
// send time and a sequence number up front, filler after, so a receiver
// measures latency and finds gaps and duplicates.
package stamp

import (
	"encoding/binary"
	"time"
)

// HeaderLen is the part of every payload read back: the send time
// (UnixNano) and the sequence number, both big-endian uint64. The rest of
// the payload is filler.
const HeaderLen = 16

// Encode returns a fresh size-byte payload (size >= HeaderLen) carrying
// sent and seq. Each publish gets its own slice: paho keeps a reference
// until the packet is written.
func Encode(size int, sent time.Time, seq int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b[0:8], uint64(sent.UnixNano()))
	binary.BigEndian.PutUint64(b[8:16], uint64(seq))
	for i := HeaderLen; i < size; i++ {
		b[i] = 'x'
	}
	return b
}

// Decode reads back what Encode wrote; ok is false when b is too short to
// be one.
func Decode(b []byte) (sent time.Time, seq uint64, ok bool) {
	if len(b) < HeaderLen {
		return time.Time{}, 0, false
	}
	sent = time.Unix(0, int64(binary.BigEndian.Uint64(b[0:8])))
	return sent, binary.BigEndian.Uint64(b[8:16]), true
}
