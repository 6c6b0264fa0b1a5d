package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A minimal MQTT 3.1.1 client, just what the prober needs: CONNECT with a
// clean session, one QoS 1 SUBSCRIBE, QoS 1 PUBLISH both ways, PUBACK. It
// is raw on purpose: no library-side reconnect, resend, queue or ping, so
// what the prober sees is what HAProxy and the broker do, and a dropped
// connection shows up at once as a failed read.

// Packet types [MQTT-2.2.1].
const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktSubscribe  = 8
	pktSuback     = 9
	pktPingresp   = 13
	pktDisconnect = 14
)

// maxPacket bounds the packets the prober reads: its own probes are tiny.
const maxPacket = 64 << 10

// keepAlive is the keepalive the prober announces; it publishes every
// 10ms, so it never needs a PINGREQ [MQTT-3.1.2-23].
const keepAlive = 30

// writeTimeout bounds one write on an established connection.
const writeTimeout = time.Second

var errBadPacket = errors.New("malformed packet")

// mqttConn is one established MQTT connection. Writes are serialised; one
// goroutine reads (readPacket).
type mqttConn struct {
	c  net.Conn
	r  *bufio.Reader
	mu sync.Mutex // serialises writes
}

// dialMQTT connects to addr, sends CONNECT (clean session, client id id),
// waits for an accepting CONNACK, subscribes to topic at QoS 1 and waits
// for its SUBACK, all before ctx's deadline. Cancelling ctx aborts it.
func dialMQTT(ctx context.Context, addr, id, topic string) (*mqttConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	m := &mqttConn{c: c, r: bufio.NewReader(c)}
	if err := m.handshake(ctx, id, topic); err != nil {
		return nil, errors.Join(err, m.close())
	}
	return m, nil
}

func (m *mqttConn) handshake(ctx context.Context, id, topic string) error {
	if dl, ok := ctx.Deadline(); ok {
		if err := m.c.SetDeadline(dl); err != nil {
			return fmt.Errorf("set handshake deadline: %w", err)
		}
	}
	// Cancellation unblocks the reads. SetDeadline fails only on a closed
	// connection, whose reads fail anyway.
	stop := context.AfterFunc(ctx, func() { m.c.SetDeadline(time.Now()) })
	defer stop()
	if err := m.write(connectPacket(id)); err != nil {
		return fmt.Errorf("send CONNECT: %w", err)
	}
	typ, _, body, err := m.readPacket()
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("closed before CONNACK (no leader behind haproxy?): %w", err)
	case err != nil:
		return fmt.Errorf("read CONNACK: %w", err)
	case typ != pktConnack || len(body) != 2:
		return fmt.Errorf("got packet type %d (%d bytes) instead of CONNACK: %w", typ, len(body), errBadPacket)
	case body[1] != 0: // [MQTT-3.2.2.3] return code 0: accepted
		return fmt.Errorf("CONNACK refused the connection: return code %d", body[1])
	}
	const subID = 1
	if err := m.write(subscribePacket(subID, topic)); err != nil {
		return fmt.Errorf("send SUBSCRIBE: %w", err)
	}
	typ, _, body, err = m.readPacket()
	switch {
	case err != nil:
		return fmt.Errorf("read SUBACK: %w", err)
	case typ != pktSuback || len(body) != 3 || binary.BigEndian.Uint16(body) != subID:
		return fmt.Errorf("got packet type %d (%d bytes) instead of SUBACK: %w", typ, len(body), errBadPacket)
	case body[2] != 1: // [MQTT-3.9.3] granted QoS 1
		return fmt.Errorf("SUBACK return code %#x, want QoS 1 granted", body[2])
	}
	if err := m.c.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear handshake deadline: %w", err)
	}
	return nil
}

// write sends one packet, bounded by writeTimeout.
func (m *mqttConn) write(pk []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := m.c.Write(pk)
	return err
}

// readPacket reads one packet: its type, the flags of its first byte, and
// the rest after the remaining length [MQTT-2.2].
func (m *mqttConn) readPacket() (typ, flags byte, body []byte, err error) {
	first, err := m.r.ReadByte()
	if err != nil {
		return 0, 0, nil, err
	}
	n, err := binary.ReadUvarint(m.r) // the remaining length is a base-128 varint [MQTT-2.2.3]
	if err != nil {
		return 0, 0, nil, fmt.Errorf("remaining length: %w", err)
	}
	if n > maxPacket {
		return 0, 0, nil, fmt.Errorf("packet of %d bytes: %w", n, errBadPacket)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(m.r, body); err != nil {
		return 0, 0, nil, fmt.Errorf("packet body: %w", err)
	}
	return first >> 4, first & 0x0f, body, nil
}

// close sends DISCONNECT (best effort: the peer may be gone) and closes.
func (m *mqttConn) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err == nil {
		m.c.Write([]byte{pktDisconnect << 4, 0}) // a peer already gone is why we close: its error says nothing
	}
	if err := m.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// parsePublish splits an inbound PUBLISH body [MQTT-3.3.2]: its topic,
// packet id (0 at QoS 0) and payload.
func parsePublish(flags byte, body []byte) (topic string, id uint16, payload []byte, err error) {
	if len(body) < 2 {
		return "", 0, nil, errBadPacket
	}
	tl := int(binary.BigEndian.Uint16(body))
	rest := body[2:]
	if len(rest) < tl {
		return "", 0, nil, errBadPacket
	}
	topic, rest = string(rest[:tl]), rest[tl:]
	if qos := (flags >> 1) & 3; qos > 0 {
		if len(rest) < 2 {
			return "", 0, nil, errBadPacket
		}
		id, rest = binary.BigEndian.Uint16(rest), rest[2:]
	}
	return topic, id, rest, nil
}

// connectPacket: protocol level 4, clean session, keepAlive [MQTT-3.1].
func connectPacket(id string) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, keepAlive}
	body = appendString(body, id)
	return packet(pktConnect<<4, body)
}

// subscribePacket subscribes to topic at QoS 1 [MQTT-3.8].
func subscribePacket(id uint16, topic string) []byte {
	body := binary.BigEndian.AppendUint16(nil, id)
	body = appendString(body, topic)
	return packet(pktSubscribe<<4|0x02, append(body, 1)) // flags 0010 [MQTT-3.8.1-1]
}

// publishPacket is a QoS 1 PUBLISH [MQTT-3.3].
func publishPacket(id uint16, topic string, payload []byte) []byte {
	body := appendString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, id)
	return packet(pktPublish<<4|1<<1, append(body, payload...))
}

// pubackPacket acknowledges an inbound QoS 1 PUBLISH [MQTT-3.4].
func pubackPacket(id uint16) []byte {
	return packet(pktPuback<<4, binary.BigEndian.AppendUint16(nil, id))
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// packet prefixes body with the first byte and the remaining length.
func packet(first byte, body []byte) []byte {
	pk := binary.AppendUvarint([]byte{first}, uint64(len(body)))
	return append(pk, body...)
}
