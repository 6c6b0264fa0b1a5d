package broker

import (
	"errors"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

type ackSeen struct {
	typ    uint8
	id     uint16
	reason byte
}

func feedAll(t *testing.T, chunks ...[]byte) ([]ackSeen, error) {
	t.Helper()
	var f inFramer
	var seen []ackSeen
	for _, c := range chunks {
		if err := f.feed(c, func(typ uint8, id uint16, reason byte) {
			seen = append(seen, ackSeen{typ, id, reason})
		}); err != nil {
			return seen, err
		}
	}
	return seen, nil
}

func TestFramerReportsAcksAcrossReads(t *testing.T) {
	puback := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 0x0102})
	pubrecErr := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: 9,
		ProtocolVersion: 5, ReasonCode: 0x80})
	pubcomp := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: 3})
	pub := publish(t, 1, 77, "a payload long enough to span reads")
	stream := cat(pub, puback, pubrecErr, pub, pubcomp)
	// Every split of the stream into two reads gives the same acks.
	for cut := 0; cut <= len(stream); cut++ {
		seen, err := feedAll(t, stream[:cut], stream[cut:])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		want := []ackSeen{{typePuback, 0x0102, 0}, {typePubrec, 9, 0x80}, {typePubcomp, 3, 0}}
		if len(seen) != len(want) {
			t.Fatalf("cut %d: acks %v, want %v", cut, seen, want)
		}
		for i := range want {
			if seen[i] != want[i] {
				t.Fatalf("cut %d: acks %v, want %v", cut, seen, want)
			}
		}
	}
	// One byte at a time.
	var chunks [][]byte
	for i := range stream {
		chunks = append(chunks, stream[i:i+1])
	}
	if seen, err := feedAll(t, chunks...); err != nil || len(seen) != 3 {
		t.Fatalf("byte by byte: %v acks, err %v", seen, err)
	}
}

func TestFramerRejectsFiveByteLength(t *testing.T) {
	ok := []byte{0x30, 0xff, 0xff, 0xff, 0x7f} // 4 bytes: the largest valid length
	if _, err := feedAll(t, ok); err != nil {
		t.Fatalf("4-byte length rejected: %v", err)
	}
	bad := []byte{0x10, 0x8c, 0x80, 0x80, 0x80, 0x00}
	for cut := 0; cut <= len(bad); cut++ {
		if _, err := feedAll(t, bad[:cut], bad[cut:]); !errors.Is(err, ErrMalformedLength) {
			t.Fatalf("cut %d: err %v, want ErrMalformedLength", cut, err)
		}
	}
}

func TestFreesWindow(t *testing.T) {
	for _, c := range []struct {
		typ    uint8
		reason byte
		want   bool
	}{{typePuback, 0, true}, {typePuback, 0x10, true}, {typePubcomp, 0, true},
		{typePubrec, 0, false}, {typePubrec, 0x10, false}, {typePubrec, 0x80, true}, {typePubrec, 0x91, true}} {
		if got := freesWindow(c.typ, c.reason); got != c.want {
			t.Errorf("freesWindow(%d, %#x) = %v, want %v", c.typ, c.reason, got, c.want)
		}
	}
}
