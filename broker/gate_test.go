package broker

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// fakeDurability is a committer whose indexes the test moves by hand.
type fakeDurability struct {
	mu       sync.Mutex
	enqueued uint64
	durable  uint64
	changed  chan struct{}
	failed   chan struct{}
}

func newFakeDurability() *fakeDurability {
	return &fakeDurability{changed: make(chan struct{}), failed: make(chan struct{})}
}

func (f *fakeDurability) Enqueued() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.enqueued }
func (f *fakeDurability) Durable() uint64  { f.mu.Lock(); defer f.mu.Unlock(); return f.durable }
func (f *fakeDurability) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}
func (f *fakeDurability) Failed() <-chan struct{} { return f.failed }
func (f *fakeDurability) Err() error              { return nil }
func (f *fakeDurability) enqueue()                { f.mu.Lock(); f.enqueued++; f.mu.Unlock() }
func (f *fakeDurability) commit() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.durable = f.enqueued
	close(f.changed)
	f.changed = make(chan struct{})
}

// pipeGate is a gatedConn on one end of a pipe; the test is the client on
// the other end, reading into got.
type pipeGate struct {
	g      *gatedConn
	client net.Conn
	mu     sync.Mutex
	got    []byte
}

func newPipeGate(t *testing.T, d Durability) *pipeGate {
	t.Helper()
	srv, cli := net.Pipe()
	p := &pipeGate{g: newGatedConn(srv, d, nil, slog.New(slog.DiscardHandler)), client: cli}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := cli.Read(buf)
			p.mu.Lock()
			p.got = append(p.got, buf[:n]...)
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	return p
}

func (p *pipeGate) received() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.got)
}

// waitReceived polls until the client has received exactly want.
func (p *pipeGate) waitReceived(t *testing.T, what string, want []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Equal(p.received(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: client received\n% x\nwant\n% x", what, p.received(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// serverReads drains what the client sends through the gate, as mochi's
// read loop would.
func (p *pipeGate) serverReads() {
	go func() { _, _ = io.Copy(io.Discard, p.g) }()
}

func TestGateHoldsUntilDurable(t *testing.T) {
	d := newFakeDurability()
	p := newPipeGate(t, d)
	d.enqueue()
	ack := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 1})
	if _, err := p.g.Write(ack); err != nil {
		t.Fatal(err)
	}
	// Nothing may arrive before the commit; check the client saw nothing
	// while the write is certainly queued (Write returned).
	if got := p.received(); len(got) != 0 {
		t.Fatalf("client got % x before the change was durable", got)
	}
	d.commit()
	p.waitReceived(t, "after commit", ack)
}

func TestGateWindowReleasesOnAck(t *testing.T) {
	d := newFakeDurability()
	p := newPipeGate(t, d)
	p.g.setWindow(1)
	p.serverReads()
	connack := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}})
	p1, p2 := publish(t, 1, 1, "one"), publish(t, 1, 2, "two")
	for _, b := range [][]byte{connack, cat(p1, p2)} {
		if _, err := p.g.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	p.waitReceived(t, "window of 1", cat(connack, p1))
	puback := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 1})
	if _, err := p.client.Write(puback); err != nil {
		t.Fatal(err)
	}
	p.waitReceived(t, "after PUBACK 1", cat(connack, p1, p2))
}

// TestGateNothingBeforeConnack: mochi registers a client taking a session
// over before it writes the CONNACK; a PUBLISH (or PUBREL) written in
// between goes out after the CONNACK.
func TestGateNothingBeforeConnack(t *testing.T) {
	d := newFakeDurability()
	p := newPipeGate(t, d)
	p.serverReads()
	connack := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}})
	p1 := publish(t, 1, 1, "early")
	rel := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 2})
	for _, b := range [][]byte{p1, rel} {
		if _, err := p.g.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.received(); len(got) != 0 {
		t.Fatalf("client got % x before any CONNACK", got)
	}
	if _, err := p.g.Write(connack); err != nil {
		t.Fatal(err)
	}
	p2 := publish(t, 1, 3, "late")
	if _, err := p.g.Write(p2); err != nil {
		t.Fatal(err)
	}
	p.waitReceived(t, "CONNACK first, then the rest in order", cat(connack, p1, rel, p2))
}

// TestGateLeavesInflightToTheResend: with the session present, mochi
// resends the in-flight map right after the CONNACK; QoS 1/2 PUBLISH and
// PUBREL packets held before it are in that map and are left to the
// resend, else a new message would overtake older ones being resent. QoS
// 0 has no resend and is released.
func TestGateLeavesInflightToTheResend(t *testing.T) {
	for _, present := range []bool{true, false} {
		t.Run(fmt.Sprintf("session present %v", present), func(t *testing.T) {
			d := newFakeDurability()
			p := newPipeGate(t, d)
			p.serverReads()
			connack := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, SessionPresent: present})
			early1 := publish(t, 1, 7, "early")
			early0 := publish(t, 0, 0, "qos0")
			rel := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 8})
			for _, b := range [][]byte{early1, early0, rel} {
				if _, err := p.g.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.g.Write(connack); err != nil {
				t.Fatal(err)
			}
			resend := publish(t, 1, 5, "resent") // what mochi's resend writes next: DUP
			resend[0] |= 0x08
			if _, err := p.g.Write(resend); err != nil {
				t.Fatal(err)
			}
			want := cat(connack, early1, early0, rel, resend)
			if present {
				want = cat(connack, early0, resend)
			}
			p.waitReceived(t, "the CONNACK, then what the resend does not send", want)
		})
	}
}

// TestGateHoldsNewMessagesDuringTheResend: after a CONNACK with the
// session present, new QoS 1/2 PUBLISH packets wait until mochi has
// resent the in-flight map (resendDone), and one the resend already wrote
// (as DUP) is not written again; QoS 0 and the resend pass at once.
func TestGateHoldsNewMessagesDuringTheResend(t *testing.T) {
	d := newFakeDurability()
	p := newPipeGate(t, d)
	p.serverReads()
	connack := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, SessionPresent: true})
	dup := func(id uint16, payload string) []byte {
		b := publish(t, 1, id, payload)
		b[0] |= 0x08
		return b
	}
	new9, new10, qos0 := publish(t, 1, 9, "new 9"), publish(t, 2, 10, "new 10"), publish(t, 0, 0, "qos0")
	for _, b := range [][]byte{connack, new9, dup(5, "old 5"), qos0, dup(9, "new 9"), new10} {
		if _, err := p.g.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	p.waitReceived(t, "the CONNACK and the resend, new messages held", cat(connack, dup(5, "old 5"), qos0, dup(9, "new 9")))
	p.g.resendDone()
	p.waitReceived(t, "then the new message the resend did not carry", cat(connack, dup(5, "old 5"), qos0, dup(9, "new 9"), new10))
	late := publish(t, 1, 11, "late")
	if _, err := p.g.Write(late); err != nil {
		t.Fatal(err)
	}
	p.waitReceived(t, "then writes as usual", cat(connack, dup(5, "old 5"), qos0, dup(9, "new 9"), new10, late))
}

func TestGateRejectsMalformedLength(t *testing.T) {
	d := newFakeDurability()
	p := newPipeGate(t, d)
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		_, err := p.g.Read(buf)
		errc <- err
	}()
	if _, err := p.client.Write([]byte{0x10, 0x8c, 0x80, 0x80, 0x80, 0x00}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Read accepted a 5-byte remaining length")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return")
	}
}
