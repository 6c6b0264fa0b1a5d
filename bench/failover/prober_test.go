package main

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// echoBroker is a fake MQTT 3.1.1 broker on loopback that sends every
// QoS 1 PUBLISH back to the connection that sent it (the prober's own
// subscription), until drop closes every connection.
type echoBroker struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startEchoBroker(t *testing.T) *echoBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &echoBroker{ln: ln}
	b.wg.Go(b.accept)
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Error(err)
		}
		b.drop()
		b.wg.Wait()
	})
	return b
}

func (b *echoBroker) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return // closed by the cleanup
		}
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
		b.wg.Go(func() { b.serve(c) })
	}
}

// serve answers CONNECT, SUBSCRIBE and PUBLISH until the connection ends.
func (b *echoBroker) serve(c net.Conn) {
	m := &mqttConn{c: c, r: bufio.NewReader(c)}
	for {
		typ, flags, body, err := m.readPacket()
		if err != nil {
			return
		}
		var out []byte
		switch typ {
		case pktConnect:
			out = []byte{pktConnack << 4, 2, 0, 0}
		case pktSubscribe:
			out = packet(pktSuback<<4, append(body[:2:2], 1))
		case pktPublish:
			topic, id, payload, err := parsePublish(flags, body)
			if err != nil {
				return
			}
			out = append(pubackPacket(id), publishPacket(id, topic, payload)...)
		}
		if out != nil && m.write(out) != nil {
			return
		}
	}
}

// drop closes every connection, as HAProxy does when its server goes.
func (b *echoBroker) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close() // may be closed already: that is the point
	}
	b.conns = nil
}

// TestProberReconnects: the prober's round trips succeed against the echo
// broker; when its connection drops it reconnects, and the next success
// is on the new connection.
func TestProberReconnects(t *testing.T) {
	b := startEchoBroker(t)
	pr := newProber(b.ln.Addr().String(), "test", time.Second, slog.New(slog.NewTextHandler(t.Output(), nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); pr.run(pctx) }()
	defer func() { stop(); <-done }()

	first, err := pr.waitNewConnSuccess(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if first.conn != 1 {
		t.Fatalf("first round trip on connection %d, want 1", first.conn)
	}
	dropped := time.Now()
	b.drop()
	next, err := pr.waitNewConnSuccess(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if next.conn != 2 || !next.at.After(dropped) {
		t.Errorf("after the drop: round trip on connection %d at %v, want connection 2 after %v", next.conn, next.at, dropped)
	}
	if pr.droppedAt(1).IsZero() {
		t.Error("the end of connection 1 was not recorded")
	}
	if conn, _ := pr.mark(); conn != 2 {
		t.Errorf("current connection %d, want 2", conn)
	}
}

// TestProberGivesUpAtDeadline: with nothing listening, waiting for a
// round trip ends with ctx and says why.
func TestProberGivesUpAtDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	pr := newProber(addr, "test", 100*time.Millisecond, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); pr.run(ctx) }()
	defer func() { <-done }()
	if _, err := pr.waitNewConnSuccess(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if n := pr.connectAttempts(); n < 2 {
		t.Errorf("%d connect attempts in 300ms, want several", n)
	}
}
