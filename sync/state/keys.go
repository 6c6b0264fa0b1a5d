package state

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Bucket names. The layout is versioned by formatVersion in the meta bucket.
var (
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions")
	bucketSubs     = []byte("subs")
	bucketMsgs     = []byte("msgs")
	bucketDeliv    = []byte("deliveries")
	bucketRefs     = []byte("msgrefs")
	bucketInbound  = []byte("inbound")
	bucketRetained = []byte("retained")
	bucketRouted   = []byte("routed") // ids of routed messages (Message.Routed)
	bucketDynsec   = []byte("dynsec") // keyDynsec: the dynamic-security configuration

	allBuckets = [][]byte{bucketMeta, bucketSessions, bucketSubs, bucketMsgs,
		bucketDeliv, bucketRefs, bucketInbound, bucketRetained, bucketRouted, bucketDynsec}

	keyApplied = []byte("applied")
	keyMsgSeq  = []byte("msgseq")
	keyEpoch   = []byte("epoch") // epoch of the entry at the applied index
	keyFormat  = []byte("format")
	keyDynsec  = []byte("config") // in bucketDynsec
)

const formatVersion = "triad-state-1"

// clientPrefix is the key prefix of everything a client owns: a two-byte
// length then the id, so that no id is a prefix of another's keys.
func clientPrefix(clientID string) []byte {
	k := make([]byte, 2, 2+len(clientID)+8)
	binary.BigEndian.PutUint16(k, uint16(len(clientID)))
	return append(k, clientID...)
}

func subKey(clientID, filter string) []byte {
	return append(clientPrefix(clientID), filter...)
}

func delivKey(clientID string, msgID uint64) []byte {
	return binary.BigEndian.AppendUint64(clientPrefix(clientID), msgID)
}

func inboundKey(clientID string, packetID uint16) []byte {
	return binary.BigEndian.AppendUint16(clientPrefix(clientID), packetID)
}

func msgKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}

func refKey(msgID uint64, clientID string) []byte {
	return append(msgKey(msgID), clientID...)
}

// splitRefKey returns the client id of a msgrefs key.
func splitRefKey(k []byte) (string, error) {
	if len(k) < 8 {
		return "", fmt.Errorf("state: short msgref key %x", k)
	}
	return string(k[8:]), nil
}

func u64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, errors.New("state: corrupt counter")
	}
	return binary.BigEndian.Uint64(b), nil
}
