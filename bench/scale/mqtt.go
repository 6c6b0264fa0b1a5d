package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// A minimal MQTT 3.1.1 client, just what a scale client needs: CONNECT
// with a persistent session (clean session 0), one SUBSCRIBE of several
// QoS 1 filters, PINGREQ, and PUBACK for a QoS 1 PUBLISH should one come.
// It is raw for size: at 20,000 connections a client is one goroutine, a
// socket and a few hundred bytes of buffer, and nothing the library does
// (reconnect, resend, queue) hides what HAProxy and the broker do.

// Packet types [MQTT-2.2.1].
const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktSubscribe  = 8
	pktSuback     = 9
	pktPingreq    = 12
	pktPingresp   = 13
	pktDisconnect = 14
)

// maxPacket bounds the packets a client reads: nothing publishes to the
// scale topics, so only acks and pings come.
const maxPacket = 64 << 10

// readBufSize is each connection's read buffer: acks and pings are a few
// bytes.
const readBufSize = 256

// writeTimeout bounds one write on an established connection.
const writeTimeout = 5 * time.Second

var errBadPacket = errors.New("malformed packet")

// session is what one client is: its id, keepalive and topic filters.
type session struct {
	id        string
	keepAlive uint16 // seconds [MQTT-3.1.2.10]
	filters   []string
}

// mqttConn is one established MQTT connection. One goroutine reads and
// writes it; close may come from any.
type mqttConn struct {
	c    net.Conn
	r    *bufio.Reader
	body []byte // reused for every packet's body
}

// newReader is a connection's read buffer.
func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, readBufSize) }

// handshake is what a connect attempt got.
type handshake struct {
	sessionPresent bool // the CONNACK's session present flag [MQTT-3.2.2.2]
	subscribed     bool // a SUBSCRIBE was sent and its SUBACK granted every filter QoS 1
}

// stageError says which step of a connect attempt failed.
type stageError struct {
	stage string // dial, connack, suback
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// dialSession connects with d to addr, sends CONNECT (clean session 0),
// waits for an accepting CONNACK and, when subscribe says so given the
// session present flag, subscribes to every filter at QoS 1 in one
// SUBSCRIBE and waits for its SUBACK; all before ctx's deadline.
// Cancelling ctx aborts it. Errors are *stageError.
func dialSession(ctx context.Context, d *net.Dialer, addr string, s *session, subscribe func(present bool) bool) (*mqttConn, handshake, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, handshake{}, &stageError{"dial", err}
	}
	m := &mqttConn{c: c, r: newReader(c)}
	hs, err := m.handshake(ctx, s, subscribe)
	if err != nil {
		m.abort()
		return nil, hs, err
	}
	return m, hs, nil
}

func (m *mqttConn) handshake(ctx context.Context, s *session, subscribe func(present bool) bool) (handshake, error) {
	var hs handshake
	if dl, ok := ctx.Deadline(); ok {
		if err := m.c.SetDeadline(dl); err != nil {
			return hs, &stageError{"connack", fmt.Errorf("set deadline: %w", err)}
		}
	}
	// Cancellation unblocks the reads. SetDeadline fails only on a closed
	// connection, whose reads fail anyway.
	stop := context.AfterFunc(ctx, func() { m.c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := m.c.Write(connectPacket(s)); err != nil {
		return hs, &stageError{"connack", fmt.Errorf("send CONNECT: %w", err)}
	}
	typ, _, body, err := m.readPacket()
	switch {
	case err != nil:
		return hs, &stageError{"connack", err}
	case typ != pktConnack || len(body) != 2:
		return hs, &stageError{"connack", fmt.Errorf("packet type %d (%d bytes) instead of CONNACK: %w", typ, len(body), errBadPacket)}
	case body[1] != 0: // [MQTT-3.2.2.3] return code 0: accepted
		return hs, &stageError{"connack", fmt.Errorf("%w %d", errRefused, body[1])}
	}
	hs.sessionPresent = body[0]&1 == 1
	if subscribe(hs.sessionPresent) && len(s.filters) > 0 {
		if err := m.subscribe(s.filters); err != nil {
			return hs, err
		}
		hs.subscribed = true
	}
	if err := m.c.SetDeadline(time.Time{}); err != nil {
		return hs, &stageError{"suback", fmt.Errorf("clear deadline: %w", err)}
	}
	return hs, nil
}

// errRefused: the CONNACK's return code was not 0.
var errRefused = errors.New("CONNACK refused the connection: return code")

// errNotGranted: a SUBACK return code was not 1 (QoS 1 granted).
var errNotGranted = errors.New("SUBACK did not grant QoS 1")

// subscribeID is the packet id of the one SUBSCRIBE a connection sends.
const subscribeID = 1

func (m *mqttConn) subscribe(filters []string) error {
	if _, err := m.c.Write(subscribePacket(subscribeID, filters)); err != nil {
		return &stageError{"suback", fmt.Errorf("send SUBSCRIBE: %w", err)}
	}
	for {
		typ, flags, body, err := m.readPacket()
		if err != nil {
			return &stageError{"suback", err}
		}
		if typ == pktPublish { // a message queued for the session may come first
			if err := m.ackPublish(flags, body); err != nil {
				return &stageError{"suback", err}
			}
			continue
		}
		if typ != pktSuback || len(body) != 2+len(filters) || binary.BigEndian.Uint16(body) != subscribeID {
			return &stageError{"suback", fmt.Errorf("packet type %d flags %#x (%d bytes: % x) instead of SUBACK %d: %w",
				typ, flags, len(body), body[:min(len(body), 24)], subscribeID, errBadPacket)}
		}
		for i, rc := range body[2:] {
			if rc != 1 { // [MQTT-3.9.3] 0x01: QoS 1 granted; 0x80: failure
				return &stageError{"suback", fmt.Errorf("%w: filter %q got %#x", errNotGranted, filters[i], rc)}
			}
		}
		return nil
	}
}

// serve reads the connection until it ends and returns why. It sends a
// PINGREQ whenever pingEvery passes without a packet from the broker,
// and gives up once two of them in a row go unanswered.
func (m *mqttConn) serve(pingEvery, firstPing time.Duration) error {
	unanswered := 0
	next := firstPing
	for {
		if err := m.c.SetReadDeadline(time.Now().Add(next)); err != nil {
			return fmt.Errorf("set read deadline: %w", err)
		}
		next = pingEvery
		typ, flags, body, err := m.readPacket()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if unanswered++; unanswered > 2 {
				return fmt.Errorf("no PINGRESP to %d PINGREQs: %w", unanswered-1, err)
			}
			if err := m.write([]byte{pktPingreq << 4, 0}); err != nil {
				return fmt.Errorf("send PINGREQ: %w", err)
			}
			continue
		}
		if err != nil {
			return err
		}
		unanswered = 0
		if typ == pktPublish {
			if err := m.ackPublish(flags, body); err != nil {
				return err
			}
		}
	}
}

// ackPublish answers an inbound PUBLISH at QoS 1 with a PUBACK [MQTT-3.4];
// QoS 0 needs nothing. Nothing publishes at QoS 2 here.
func (m *mqttConn) ackPublish(flags byte, body []byte) error {
	qos := (flags >> 1) & 3
	if qos == 0 {
		return nil
	}
	if len(body) < 2 {
		return errBadPacket
	}
	tl := int(binary.BigEndian.Uint16(body))
	if len(body) < 2+tl+2 {
		return errBadPacket
	}
	id := binary.BigEndian.Uint16(body[2+tl:])
	if qos != 1 {
		return fmt.Errorf("PUBLISH at QoS %d: %w", qos, errBadPacket)
	}
	return m.write(packet(pktPuback<<4, binary.BigEndian.AppendUint16(nil, id)))
}

// write sends one packet, bounded by writeTimeout.
func (m *mqttConn) write(pk []byte) error {
	if err := m.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := m.c.Write(pk)
	return err
}

// readPacket reads one packet: its type, the flags of its first byte, and
// the rest after the remaining length [MQTT-2.2]. body is valid until the
// next read.
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
	if uint64(cap(m.body)) < n {
		m.body = make([]byte, n)
	}
	body = m.body[:n]
	if _, err := io.ReadFull(m.r, body); err != nil {
		return 0, 0, nil, fmt.Errorf("packet body: %w", err)
	}
	return first >> 4, first & 0x0f, body, nil
}

// abort closes the connection without a DISCONNECT, like a crashed
// client: the session stays.
func (m *mqttConn) abort() {
	m.c.Close() // the error of closing a socket we drop says nothing
}

// disconnect sends DISCONNECT (best effort) and closes: the persistent
// session stays on the broker [MQTT-3.1.2-4].
func (m *mqttConn) disconnect() {
	if m.c.SetWriteDeadline(time.Now().Add(100*time.Millisecond)) == nil {
		m.c.Write([]byte{pktDisconnect << 4, 0}) // a peer already gone is why we close
	}
	m.abort()
}

// connectPacket: protocol level 4, clean session 0, no will, no
// credentials [MQTT-3.1].
func connectPacket(s *session) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x00}
	body = binary.BigEndian.AppendUint16(body, s.keepAlive)
	body = appendString(body, s.id)
	return packet(pktConnect<<4, body)
}

// subscribePacket subscribes to every filter at QoS 1 [MQTT-3.8].
func subscribePacket(id uint16, filters []string) []byte {
	body := binary.BigEndian.AppendUint16(nil, id)
	for _, f := range filters {
		body = appendString(body, f)
		body = append(body, 1)
	}
	return packet(pktSubscribe<<4|0x02, body) // flags 0010 [MQTT-3.8.1-1]
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

// errClass names the kind of a failed connect attempt for the counts:
// its stage and what went wrong there.
func errClass(err error) string {
	stage := "other"
	var se *stageError
	if errors.As(err, &se) {
		stage = se.stage
	}
	var kind string
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, context.Canceled):
		kind = "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		kind = "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		kind = "no free local port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		kind = "too many open files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = "closed by the peer"
	case errors.Is(err, errRefused):
		kind = "refused (return code)"
	case errors.Is(err, errNotGranted):
		kind = "subscription not granted"
	case errors.Is(err, errBadPacket):
		kind = "malformed packet"
	default:
		kind = "other"
	}
	return stage + ": " + kind
}
