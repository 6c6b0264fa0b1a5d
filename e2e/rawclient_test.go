package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawClient is a minimal, strictly spec-following MQTT 3.1.1 subscriber used
// to check the broker's delivery guarantees without a client library's own
// behaviour in the way. It keeps its QoS 2 receiver state (packet ids whose
// PUBREL has not arrived) across connections, as [MQTT-4.3.3] requires of a
// persistent session, so a broker that resends a PUBLISH it already
// delivered is tolerated only when the spec allows it.
type rawClient struct {
	id string

	mu          sync.Mutex
	awaitingRel map[uint16]bool // QoS 2 ids delivered, PUBREL not yet received
	delivered   []string        // payloads handed to the "application", in order
	count       map[string]int
	holdAcks    bool     // when true, PUBLISHes are delivered but not acknowledged
	held        []uint16 // QoS 1 packet ids left unacknowledged while holdAcks, oldest first
	subacks     int
	pubrels     int  // PUBREL packets received
	holdComp    bool // when true, PUBREL is taken (the id released) but PUBCOMP not sent
	conn        net.Conn
	readErr     chan error
}

func newRawClient(id string) *rawClient {
	return &rawClient{id: id, awaitingRel: map[uint16]bool{}, count: map[string]int{}}
}

func writePacket(c net.Conn, pk packets.Packet) error {
	var buf bytes.Buffer
	var err error
	pk.ProtocolVersion = 4
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(&buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		return fmt.Errorf("rawclient: cannot encode %d", pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}
	if err := c.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	_, err = c.Write(buf.Bytes())
	return err
}

func readPacket(r *bufio.Reader) (packets.Packet, error) {
	var pk packets.Packet
	b, err := r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = 4
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pingresp, packets.Disconnect:
	default:
		err = fmt.Errorf("rawclient: unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// connect opens a session (clean false) and subscribes; it returns the
// CONNACK's session present flag. Incoming messages are handled by a
// goroutine until the connection ends.
func (c *rawClient) connect(addr string, subscribe map[string]byte) (bool, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false, err
	}
	r := bufio.NewReader(conn)
	if err := writePacket(conn, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: false,
			Keepalive: 30, ClientIdentifier: c.id},
	}); err != nil {
		conn.Close()
		return false, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		conn.Close()
		return false, err
	}
	ack, err := readPacket(r)
	if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		conn.Close()
		return false, fmt.Errorf("rawclient %s: connack %+v: %w", c.id, ack.ReasonCode, err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		conn.Close()
		return false, err
	}
	c.mu.Lock()
	c.conn = conn
	c.readErr = make(chan error, 1)
	errc := c.readErr
	c.mu.Unlock()
	go func() { errc <- c.readLoop(conn, r) }()
	if len(subscribe) > 0 {
		var filters packets.Subscriptions
		for f, q := range subscribe {
			filters = append(filters, packets.Subscription{Filter: f, Qos: q})
		}
		if err := writePacket(conn, packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
			PacketID:    1, Filters: filters,
		}); err != nil {
			return ack.SessionPresent, err
		}
	}
	return ack.SessionPresent, nil
}

func (c *rawClient) readLoop(conn net.Conn, r *bufio.Reader) error {
	for {
		pk, err := readPacket(r)
		if err != nil {
			return err
		}
		switch pk.FixedHeader.Type {
		case packets.Suback:
			c.mu.Lock()
			c.subacks++
			c.mu.Unlock()
		case packets.Publish:
			if err := c.onPublish(conn, pk); err != nil {
				return err
			}
		case packets.Pubrel:
			c.mu.Lock()
			delete(c.awaitingRel, pk.PacketID)
			c.pubrels++
			hold := c.holdComp
			c.mu.Unlock()
			if hold {
				continue
			}
			if err := writePacket(conn, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: pk.PacketID}); err != nil {
				return err
			}
		}
	}
}

func (c *rawClient) onPublish(conn net.Conn, pk packets.Packet) error {
	c.mu.Lock()
	hold := c.holdAcks
	switch pk.FixedHeader.Qos {
	case 0, 1:
		c.deliverLocked(pk)
	case 2:
		if !c.awaitingRel[pk.PacketID] { // [MQTT-4.3.3-9]: a resend before PUBREL is not a new message
			c.awaitingRel[pk.PacketID] = true
			c.deliverLocked(pk)
		}
	}
	if hold && pk.FixedHeader.Qos == 1 {
		c.held = append(c.held, pk.PacketID)
	}
	c.mu.Unlock()
	if hold {
		return nil
	}
	switch pk.FixedHeader.Qos {
	case 1:
		return writePacket(conn, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	case 2:
		return writePacket(conn, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID})
	}
	return nil
}

func (c *rawClient) deliverLocked(pk packets.Packet) {
	p := string(pk.Payload)
	c.delivered = append(c.delivered, p)
	c.count[p]++
}

// disconnect closes the connection (with DISCONNECT if graceful) and waits
// for the read loop to end.
func (c *rawClient) disconnect(graceful bool) {
	c.mu.Lock()
	conn, errc := c.conn, c.readErr
	c.conn = nil
	c.mu.Unlock()
	if conn == nil {
		return
	}
	if graceful {
		_ = writePacket(conn, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}) // best effort: the close follows
	}
	conn.Close()
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
	}
}

func (c *rawClient) setHoldComp(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holdComp = v
}

func (c *rawClient) pubrelCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pubrels
}

func (c *rawClient) setHoldAcks(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holdAcks = v
}

// ackHeld sends PUBACK for the n oldest QoS 1 messages held unacknowledged.
func (c *rawClient) ackHeld(n int) error {
	c.mu.Lock()
	n = min(n, len(c.held))
	ids := append([]uint16(nil), c.held[:n]...)
	c.held = c.held[n:]
	conn := c.conn
	c.mu.Unlock()
	for _, id := range ids {
		if err := writePacket(conn, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id}); err != nil {
			return err
		}
	}
	return nil
}

func (c *rawClient) snapshot() (delivered []string, count map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	count = make(map[string]int, len(c.count))
	for k, v := range c.count {
		count[k] = v
	}
	return append([]string(nil), c.delivered...), count
}

func (c *rawClient) subacked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subacks
}
