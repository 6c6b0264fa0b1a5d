package e2e

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Hostile input on raw TCP connections: each offending connection must be
// closed by the broker, must not be accepted as a client, and must not
// disturb anyone else: the broker keeps serving, and messages acknowledged
// before the attacks are still delivered.

// encodePacket encodes pk with mochi's packet codec (MQTT 3.1.1 unless
// pk.ProtocolVersion says otherwise).
func encodePacket(t *testing.T, pk packets.Packet) []byte {
	t.Helper()
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = 4
	}
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	default:
		t.Fatalf("encodePacket: type %d not supported", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatalf("encode packet type %d: %v", pk.FixedHeader.Type, err)
	}
	return buf.Bytes()
}

func connectPacket(t *testing.T, id string, name string, version byte) []byte {
	t.Helper()
	return encodePacket(t, packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte(name),
			Clean: true, Keepalive: 30, ClientIdentifier: id},
	})
}

func publishPacket(t *testing.T, topic string, qos byte, id uint16, payload []byte) []byte {
	t.Helper()
	return encodePacket(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic, PacketID: id, Payload: payload,
	})
}

// connackAccepted is an MQTT 3.1.1 CONNACK with return code 0 (session
// present 0).
var connackAccepted = []byte{0x20, 0x02, 0x00, 0x00}

// attack is one hostile connection: what it writes, whether it then shuts
// down its sending side, and what the broker may answer before closing.
type attack struct {
	name      string
	send      [][]byte
	halfClose bool // shut down writing after send: the broker sees EOF mid-packet
	fullClose bool // close the connection after send; nothing to observe
	// answer checks what the broker wrote before closing; nil: nothing, or
	// at least nothing that accepts the connection.
	answer func(t *testing.T, got []byte)
}

// run performs the attack and asserts the broker closes the connection
// within 5s.
func (a attack) run(t *testing.T, addr string) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, b := range a.send {
		if _, err := conn.Write(b); err != nil {
			t.Fatalf("write: %v", err) // the broker may close early, but not before reading this much
		}
	}
	if a.fullClose {
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if a.halfClose {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := io.ReadAll(conn) // until the broker closes: EOF (nil here) or a reset
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open 5s after the attack (broker wrote % x)", got)
	}
	t.Logf("broker wrote % x, then closed (%v)", got, err)
	if a.answer != nil {
		a.answer(t, got)
	} else if bytes.Contains(got, connackAccepted) {
		t.Errorf("broker accepted the connection: wrote % x", got)
	}
}

// TestHostileInput sends malformed and oversized packets and checks each
// connection is closed while the broker keeps its clients and data.
func TestHostileInput(t *testing.T) {
	n := newNode(t, "  limits:\n    max_packet_size: 1024")
	n.start()
	url := "tcp://" + n.mqttAddr

	// Before the attacks: a persistent session with acknowledged messages
	// queued, a publisher and a live subscriber that stay connected.
	sub, _ := mustDialV311(t, url, "bad-sub", false, nil)
	subV311(t, sub, map[string]byte{"bad/t": 1})
	sub.Disconnect(250)
	waitConnections(t, n, 0)
	pub, _ := mustDialV311(t, url, "bad-pub", true, nil)
	defer pub.Disconnect(250)
	want := seqPayloads("before", 10)
	for _, p := range want {
		pubV311(t, pub, "bad/t", 1, false, p)
	}
	liveLog := newMsgLog()
	live, _ := mustDialV311(t, url, "bad-live", true, liveLog)
	defer live.Disconnect(250)
	subV311(t, live, map[string]byte{"bad/#": 1})
	waitConnections(t, n, 2)

	connect := connectPacket(t, "attacker", "MQTT", 4)
	body := connect[2:] // a short CONNECT: one length byte
	if int(connect[1]) != len(body) {
		t.Fatalf("CONNECT encoding: remaining length % x for %d bytes", connect[1], len(body))
	}
	big := bytes.Repeat([]byte("x"), 4096)

	attacks := []attack{
		{name: "garbage before CONNECT", send: [][]byte{[]byte("\x00\x00\xffGET / HTTP/1.1\r\nHost: x\r\n\r\n"), connect}},
		{name: "HTTP request", send: [][]byte{[]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")}},
		// [MQTT-3.1.0-1]: the first packet must be CONNECT.
		{name: "PUBLISH before CONNECT", send: [][]byte{publishPacket(t, "bad/t", 1, 1, []byte("sneaky"))}},
		// A Remaining Length takes at most 4 bytes (3.1.1 §2.2.3) and the
		// fewest bytes needed [MQTT-1.5.5-1]; a malformed packet closes the
		// connection (3.1.1 §4.8, MQTT 5 §4.13).
		{name: "remaining length overflows", send: [][]byte{{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}}},
		{name: "remaining length with 5 continuation bytes", send: [][]byte{
			append([]byte{0x10, byte(len(body)) | 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, body...)}},
		{name: "PUBLISH over max_packet_size", send: [][]byte{connect, publishPacket(t, "bad/big", 1, 7, big)},
			answer: func(t *testing.T, got []byte) {
				// Accepted, then closed without a PUBACK.
				if !bytes.Equal(got, connackAccepted) {
					t.Errorf("broker wrote % x, want only the CONNACK % x (no PUBACK)", got, connackAccepted)
				}
			}},
		{name: "protocol name MQTX", send: [][]byte{connectPacket(t, "attacker", "MQTX", 4)}},
		{name: "protocol level 9", send: [][]byte{connectPacket(t, "attacker", "MQTT", 9)},
			answer: func(t *testing.T, got []byte) {
				// [MQTT-3.1.2-2]: CONNACK 0x01 (unacceptable protocol level), then close.
				if want := []byte{0x20, 0x02, 0x00, 0x01}; len(got) > 0 && !bytes.Equal(got, want) {
					t.Errorf("broker wrote % x, want CONNACK % x or nothing", got, want)
				}
			}},
		{name: "truncated CONNECT, half-close", send: [][]byte{connect[:len(connect)/2]}, halfClose: true},
		{name: "truncated PUBLISH after CONNECT, close", fullClose: true,
			send: [][]byte{connect, publishPacket(t, "bad/t", 1, 3, []byte("half a message"))[:12]}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) { a.run(t, n.mqttAddr) })
	}

	// The broker dropped every attacking connection and still serves.
	waitConnections(t, n, 2)
	if !pub.IsConnectionOpen() || !live.IsConnectionOpen() {
		t.Fatalf("a well-behaved client lost its connection during the attacks")
	}
	pubV311(t, pub, "bad/t", 1, false, "after")
	waitFor(t, 10*time.Second, "live subscriber to get \"after\"", func() bool {
		return contains(liveLog.payloads("bad/t"), "after")
	})
	if got := liveLog.payloads("bad/t"); strings.Join(got, ",") != "after" {
		t.Errorf("live subscriber got %v on bad/t, want only \"after\" (nothing from the attackers)", got)
	}
	if got := liveLog.get("bad/big"); len(got) != 0 {
		t.Errorf("the oversized PUBLISH was delivered %d times", len(got))
	}

	fresh, _ := mustDialV311(t, url, "bad-fresh", true, nil)
	fresh.Disconnect(250)

	log := newMsgLog()
	sub, present := mustDialV311(t, url, "bad-sub", false, log)
	defer sub.Disconnect(250)
	if !present {
		t.Fatalf("bad-sub: session present false after the attacks")
	}
	want = append(want, "after")
	waitFor(t, 20*time.Second, "messages acknowledged before the attacks", func() bool {
		return log.distinct("bad/t") == len(want)
	})
	checkDelivered(t, "bad-sub", log.payloads("bad/t"), want, true)
	for _, bad := range []string{"DATA RACE", "panic:"} {
		if strings.Contains(n.output(), bad) {
			t.Errorf("triad output contains %q", bad)
		}
	}
}
