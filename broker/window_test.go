package broker

import (
	"bytes"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func encode(t *testing.T, pk packets.Packet) []byte {
	t.Helper()
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = 4
	}
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(&buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	case packets.Connack:
		err = pk.ConnackEncode(&buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(&buf)
	default:
		t.Fatalf("encode: type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatalf("encode type %d: %v", pk.FixedHeader.Type, err)
	}
	return buf.Bytes()
}

func publish(t *testing.T, qos byte, id uint16, payload string) []byte {
	t.Helper()
	return encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName: "a/b", PacketID: id, Payload: []byte(payload)})
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestWindowHoldsBeyondLimitAndReleasesInOrder(t *testing.T) {
	var w outWindow
	w.setLimit(2)
	p1, p2, p3, p4 := publish(t, 1, 1, "one"), publish(t, 2, 2, "two"), publish(t, 1, 3, "three"), publish(t, 1, 4, "four")
	q0 := publish(t, 0, 0, "qos0")
	ping := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})

	got := cat(w.admit(cat(p1, p2, p3, q0, ping, p4), nil)...)
	if want := cat(p1, p2, q0, ping); !bytes.Equal(got, want) {
		t.Fatalf("written now:\n got % x\nwant % x", got, want)
	}
	if len(w.held) != 2 {
		t.Fatalf("held %d packets, want 2", len(w.held))
	}
	if r := w.ack(99); r != nil {
		t.Fatalf("ack of an unknown id released %d packets", len(r))
	}
	if r := cat(w.ack(2)...); !bytes.Equal(r, p3) {
		t.Fatalf("ack 2 released % x, want packet 3", r)
	}
	if r := w.ack(2); r != nil {
		t.Fatalf("a second ack of id 2 released %d packets", len(r))
	}
	// Later QoS 1 packets queue behind the held one even if there is room.
	if got := cat(w.admit(publish(t, 1, 5, "five"), nil)...); len(got) != 0 {
		t.Fatalf("packet 5 overtook held packet 4: % x", got)
	}
	if r := w.ack(1); len(r) != 1 || !bytes.Equal(r[0], p4) {
		t.Fatalf("ack 1 released %d packets, want packet 4", len(r))
	}
	if r := w.ack(3); len(r) != 1 || !bytes.Equal(r[0], publish(t, 1, 5, "five")) {
		t.Fatalf("ack 3 released %d packets, want packet 5", len(r))
	}
}

func TestWindowHeldPacketsAreCopies(t *testing.T) {
	var w outWindow
	w.setLimit(1)
	b := cat(publish(t, 1, 1, "one"), publish(t, 1, 2, "two"))
	w.admit(b, nil)
	want := publish(t, 1, 2, "two")
	for i := range b {
		b[i] = 0 // mochi reuses its buffer
	}
	if r := w.ack(1); len(r) != 1 || !bytes.Equal(r[0], want) {
		t.Fatalf("released % x, want % x", r, want)
	}
}

func TestWindowUnlimitedPassesEverything(t *testing.T) {
	var w outWindow
	b := cat(publish(t, 1, 1, "x"), publish(t, 2, 2, "y"))
	if got := cat(w.admit(b, nil)...); !bytes.Equal(got, b) {
		t.Fatalf("no window: wrote % x, want % x", got, b)
	}
}

func TestWindowResentIDDoesNotTakeASlot(t *testing.T) {
	var w outWindow
	w.setLimit(1)
	p := publish(t, 1, 7, "x")
	w.admit(p, nil)
	dup := publish(t, 1, 7, "x")
	dup[0] |= 0x08
	if got := cat(w.admit(dup, nil)...); !bytes.Equal(got, dup) {
		t.Fatalf("a resend of an outstanding id was held")
	}
}

func TestPublishIDLongTopic(t *testing.T) {
	long := string(bytes.Repeat([]byte("t"), 300)) // two-byte remaining length, topic length > 255
	p := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName: long, PacketID: 0xBEEF, Payload: []byte("p")})
	n, hdr, ok := packetSpan(p)
	if !ok || n != len(p) || hdr != 3 {
		t.Fatalf("packetSpan = %d, %d, %v; want %d, 3, true", n, hdr, ok, len(p))
	}
	if id, ok := publishID(p, hdr); !ok || id != 0xBEEF {
		t.Fatalf("publishID = %#x, %v; want 0xbeef", id, ok)
	}
	if _, _, ok := packetSpan(p[:len(p)-1]); ok {
		t.Fatalf("packetSpan accepted a truncated packet")
	}
}
