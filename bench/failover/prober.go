package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// probeInterval is the prober's cadence: one QoS 1 publish every 10ms,
// and at most one connect attempt per tick while it has no connection.
const probeInterval = 10 * time.Millisecond

// success is one successful round trip: a probe published on connection
// conn came back on conn's own subscription at time at.
type success struct {
	at   time.Time
	conn int
}

// prober is one MQTT client connected to HAProxy's frontend. Every
// probeInterval it publishes a QoS 1 message to its probe topic, to which
// it is subscribed at QoS 1; a round trip succeeds when the message comes
// back on the connection that published it. Whenever the connection drops
// it connects again at once (clean session, a new client id), then at each
// tick until a connect succeeds, each attempt bounded by connectTimeout.
// Run owns the connection; the other methods are safe for concurrent use.
type prober struct {
	addr           string
	topic          string
	idPrefix       string
	connectTimeout time.Duration
	log            *slog.Logger

	mu       sync.Mutex
	oks      []success         // every successful round trip, in time order
	conn     int               // the current connection (1, 2, ...), 0 while there is none
	conns    int               // connections established so far
	attempts int               // connect attempts so far
	drops    map[int]time.Time // connection -> when its end was seen
	dropErr  map[int]error     // connection -> why it ended
	lastErr  error             // the last failed connect attempt's error
	changed  chan struct{}     // closed and replaced at each success and each drop
	stray    int               // probes received that were not this connection's own
}

func newProber(addr, runID string, connectTimeout time.Duration, log *slog.Logger) *prober {
	return &prober{
		addr:           addr,
		topic:          "triad-failover/" + runID + "/probe",
		idPrefix:       "triad-failover-" + runID + "-",
		connectTimeout: connectTimeout,
		log:            log,
		drops:          map[int]time.Time{},
		dropErr:        map[int]error{},
		changed:        make(chan struct{}),
	}
}

// run probes until ctx ends (the run's global deadline bounds it) and
// then disconnects.
func (p *prober) run(ctx context.Context) {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	var c *probeConn
	defer func() {
		if c != nil {
			if err := c.m.close(); err != nil {
				p.log.Debug("prober: disconnect", "error", err)
			}
			<-c.done
		}
	}()
	var seq uint64
	for ctx.Err() == nil {
		var dead <-chan struct{}
		if c != nil {
			dead = c.done
		}
		select {
		case <-ctx.Done():
			return
		case <-dead:
			p.dropped(c)
			c = nil // and connect again at once
		case <-tick.C:
		}
		if c == nil {
			if c = p.connect(ctx); c == nil {
				continue
			}
		}
		seq++
		if err := c.publish(seq); err != nil {
			c.fail(fmt.Errorf("publish: %w", err)) // the reader ends, done closes, the next loop reconnects
		}
	}
}

// connect makes one connect attempt; nil if it failed.
func (p *prober) connect(ctx context.Context) *probeConn {
	p.mu.Lock()
	p.attempts++
	id := p.conns + 1
	p.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, p.connectTimeout)
	defer cancel()
	m, err := dialMQTT(cctx, p.addr, fmt.Sprintf("%s%d", p.idPrefix, id), p.topic)
	if err != nil {
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		p.log.Debug("prober: connect failed", "error", err)
		return nil
	}
	c := &probeConn{p: p, id: id, m: m, done: make(chan struct{})}
	p.mu.Lock()
	p.conns, p.conn = id, id
	p.mu.Unlock()
	go c.read()
	return c
}

// dropped records the end of c.
func (p *prober) dropped(c *probeConn) {
	if err := c.m.close(); err != nil {
		p.log.Debug("prober: close", "conn", c.id, "error", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drops[c.id] = c.endedAt
	p.dropErr[c.id] = c.err
	p.conn = 0
	p.notifyLocked()
	p.log.Debug("prober: connection ended", "conn", c.id, "error", c.err)
}

func (p *prober) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *prober) succeeded(conn int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.oks = append(p.oks, success{at: at, conn: conn})
	p.notifyLocked()
}

// mark is the prober's position: its current connection (0 if none) and
// how many round trips have succeeded so far.
func (p *prober) mark() (conn, oks int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn, len(p.oks)
}

// waitNewConnSuccess waits for the first successful round trip on a
// connection established after connection conn, and returns it. It fails
// when ctx ends, saying what the prober saw last.
func (p *prober) waitNewConnSuccess(ctx context.Context, conn int) (success, error) {
	for {
		p.mu.Lock()
		for i := len(p.oks) - 1; i >= 0 && p.oks[i].conn > conn; i-- {
			if i == 0 || p.oks[i-1].conn <= conn {
				s := p.oks[i]
				p.mu.Unlock()
				return s, nil
			}
		}
		changed, cur, drop, why, lastErr := p.changed, p.conn, p.drops[conn], p.dropErr[conn], p.lastErr
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			state := "its connection to the old leader has not dropped"
			if !drop.IsZero() {
				state = fmt.Sprintf("its connection dropped %s ago (%v); current connection %d; last connect error: %v",
					time.Since(drop).Round(time.Millisecond), why, cur, lastErr)
			}
			return success{}, fmt.Errorf("no round trip on a new connection (%s): %w", state, ctx.Err())
		case <-changed:
		}
	}
}

// successesSince returns the times of the round trips that succeeded from
// the index from (a mark) on.
func (p *prober) successesSince(from int) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]time.Time, 0, len(p.oks)-from)
	for _, s := range p.oks[from:] {
		out = append(out, s.at)
	}
	return out
}

// lastSuccessBefore returns the last round trip among the first n, if any.
func (p *prober) lastSuccessBefore(n int) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n == 0 || n > len(p.oks) {
		return time.Time{}, false
	}
	return p.oks[n-1].at, true
}

// droppedAt is when connection conn's end was seen (zero if it has not
// ended).
func (p *prober) droppedAt(conn int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drops[conn]
}

// connectAttempts is how many connect attempts the prober has made.
func (p *prober) connectAttempts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts
}

// healthy says why the prober is not in a steady state: connected, with at
// least minOKs round trips on the current connection, the last one less
// than within ago. nil when it is.
func (p *prober) healthy(now time.Time, minOKs int, within time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == 0 {
		return fmt.Errorf("prober not connected (last connect error: %v)", p.lastErr)
	}
	n := 0
	for i := len(p.oks) - 1; i >= 0 && p.oks[i].conn == p.conn && n < minOKs; i-- {
		n++
	}
	if n < minOKs {
		return fmt.Errorf("prober: %d round trips on connection %d, want %d", n, p.conn, minOKs)
	}
	if age := now.Sub(p.oks[len(p.oks)-1].at); age > within {
		return fmt.Errorf("prober: last round trip %v ago", age.Round(time.Millisecond))
	}
	return nil
}

// logTotals logs the prober's counts.
func (p *prober) logTotals() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.Info("prober totals", "round_trips", len(p.oks), "connections", p.conns,
		"connect_attempts", p.attempts, "foreign_messages", p.stray)
}

// probeConn is one connection of the prober, read by its own goroutine.
type probeConn struct {
	p    *prober
	id   int
	m    *mqttConn
	next uint16 // the last packet id used

	done    chan struct{} // closed when the reader has ended; err and endedAt are set then
	once    sync.Once
	err     error
	endedAt time.Time
}

// payloadLen: the connection id and the sequence number, 8 bytes each.
const payloadLen = 16

// publish sends probe seq as a QoS 1 PUBLISH. Run's goroutine only.
func (c *probeConn) publish(seq uint64) error {
	if c.next++; c.next == 0 { // packet ids are 1..65535 [MQTT-2.3.1-1]
		c.next = 1
	}
	payload := binary.BigEndian.AppendUint64(nil, uint64(c.id))
	payload = binary.BigEndian.AppendUint64(payload, seq)
	return c.m.write(publishPacket(c.next, c.p.topic, payload))
}

// fail ends the connection with err (the first reason wins).
func (c *probeConn) fail(err error) {
	c.once.Do(func() {
		c.err, c.endedAt = err, time.Now()
		if cerr := c.m.c.Close(); cerr != nil {
			c.err = errors.Join(err, cerr)
		}
	})
}

// read handles inbound packets until the connection ends: a probe of this
// connection coming back is a success; each QoS 1 PUBLISH is acknowledged.
func (c *probeConn) read() {
	defer close(c.done)
	for {
		typ, flags, body, err := c.m.readPacket()
		if err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		at := time.Now()
		switch typ {
		case pktPublish:
			if err := c.recv(flags, body, at); err != nil {
				c.fail(err)
				return
			}
		case pktPuback, pktPingresp:
		default:
			c.fail(fmt.Errorf("unexpected packet type %d: %w", typ, errBadPacket))
			return
		}
	}
}

func (c *probeConn) recv(flags byte, body []byte, at time.Time) error {
	topic, id, payload, err := parsePublish(flags, body)
	if err != nil {
		return fmt.Errorf("PUBLISH: %w", err)
	}
	if id != 0 {
		if err := c.m.write(pubackPacket(id)); err != nil {
			return fmt.Errorf("PUBACK: %w", err)
		}
	}
	if topic == c.p.topic && len(payload) == payloadLen && binary.BigEndian.Uint64(payload) == uint64(c.id) {
		c.p.succeeded(c.id, at)
		return nil
	}
	c.p.mu.Lock()
	c.p.stray++
	c.p.mu.Unlock()
	return nil
}
