package broker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Durability is what a gated connection waits on: the committer's indexes,
// or, in a replicating cluster, the quorum's (see sync.Quorum).
type Durability interface {
	Enqueued() uint64
	Durable() uint64
	Changed() <-chan struct{}
	Failed() <-chan struct{}
	Err() error
}

// ErrNotDurable is the error a gated connection fails with when the store
// failed: what it held back is never sent.
var ErrNotDurable = errors.New("broker: state store failed; unsent acknowledgements dropped")

// ErrFenced is what a client connection fails with once the node may no
// longer act as leader: nothing more is read from or written to clients.
var ErrFenced = errors.New("broker: leadership lost (fenced); connection closed")

// Fence says whether the node may serve right now (see election.Fence).
type Fence interface{ Valid() bool }

// strainer is the optional ability of a Fence to say that the lease is
// about to run out (see election.Fence.Strain): client reads then wait
// until it is renewed, so a leader whose CPU the clients saturate still
// gets its renewal through.
type strainer interface {
	Strain() (eased <-chan struct{}, left time.Duration)
}

// errKicked ends a wait early: the window released packets to write.
var errKicked = errors.New("broker: window released packets")

const (
	gateMaxQueued    = 4 << 20         // bytes held per connection before Write blocks
	gateDrainTimeout = 2 * time.Second // how long Close lets held bytes become durable
)

// gatedConn holds back every byte written to a client until every state
// change recorded before the write is durable. Because the broker records a
// change (message accepted, delivery assigned, subscription added, session
// created) before mochi writes the packet that tells the client about it
// (PUBACK, PUBREC, PUBLISH, SUBACK, CONNACK), no client ever sees an
// acknowledgement of something a crash could lose. Writes never wait for
// the disk: held bytes are queued in order and a flusher releases them, so
// the client's read loop keeps reading and group commit gets full batches.
type gatedConn struct {
	net.Conn
	d     Durability
	log   *slog.Logger
	fence Fence // nil: always valid (standalone)

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []gatedChunk
	queued  int
	busy    bool // a write to Conn is in progress
	flusher bool // the flusher goroutine is running
	err     error
	closed  bool

	connack    connackState // whether the CONNACK went out (Write)
	preConnack []gatedChunk // PUBLISH/PUBREL written before it
	// Between a CONNACK with the session present and the end of mochi's
	// resend of the session's in-flight map (resendDone), new QoS 1/2
	// PUBLISH packets wait in afterResend, so that none overtakes an older
	// message being resent; resent holds the ids the resend wrote.
	resending   bool
	resent      map[uint16]bool
	afterResend []gatedChunk

	win      outWindow // outbound in-flight window; mu guards it
	released [][]byte  // PUBLISH packets the window let go, to write before queue
	kick     chan struct{}
	in       inFramer // only the reading goroutine uses it

	abort     chan struct{} // closed when held bytes are to be abandoned
	abortOnce sync.Once
	drained   chan struct{} // closed when the flusher ends after Close
	drainOnce sync.Once

	admitted *admitTicket // the connection's admission slot, freed once the CONNACK is written (admission.go)
}

type connackState int

const (
	connackNotYet connackState = iota
	connackWriting
	connackSent
)

type gatedChunk struct {
	idx uint64
	b   []byte
}

func newGatedConn(c net.Conn, d Durability, fence Fence, log *slog.Logger) *gatedConn {
	g := &gatedConn{Conn: c, d: d, fence: fence, log: log, kick: make(chan struct{}, 1),
		abort: make(chan struct{}), drained: make(chan struct{})}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Write sends b once everything recorded so far is durable. It returns at
// once when b has to wait, unless too much is already held.
//
// Nothing of a session goes before the CONNACK: mochi registers a client
// that takes a session over before it writes the CONNACK, so a fan-out in
// between would put a PUBLISH first on the wire. PUBLISH and PUBREL
// packets written before the CONNACK are held, and written right after it,
// in order.
func (g *gatedConn) Write(b []byte) (int, error) {
	idx := g.d.Enqueued()
	g.mu.Lock()
	if g.resending && len(b) > 0 && b[0]>>4 == typePublish && (b[0]>>1)&3 > 0 {
		if b[0]&0x08 != 0 { // DUP: the resend
			g.resent[idOf(b)] = true
		} else {
			g.afterResend = append(g.afterResend, gatedChunk{idx: idx, b: bytes.Clone(b)})
			g.mu.Unlock()
			return len(b), nil
		}
	}
	if g.connack != connackSent && len(b) > 0 {
		switch t := b[0] >> 4; {
		case g.connack == connackWriting || t == typePublish || t == typePubrel:
			g.preConnack = append(g.preConnack, gatedChunk{idx: idx, b: bytes.Clone(b)})
			g.mu.Unlock()
			return len(b), nil
		case t == typeConnack:
			g.connack = connackWriting
			g.mu.Unlock()
			return g.writeConnack(idx, b)
		}
	}
	g.mu.Unlock()
	return g.enqueue(idx, b)
}

// writeConnack writes the CONNACK, then what was held back for it
// (including what arrives meanwhile), in order. When the CONNACK says the
// session is present, mochi resends the session's whole in-flight map
// right after it, in order; the held QoS 1/2 PUBLISH and PUBREL packets
// are in that map, so they are left to that resend, and new QoS 1/2
// PUBLISH packets wait until it is done (resendDone): written before, a
// new message would reach the client before older ones of the resend.
func (g *gatedConn) writeConnack(idx uint64, b []byte) (int, error) {
	resent := sessionPresent(b)
	if resent {
		g.mu.Lock()
		g.resending, g.resent = true, map[uint16]bool{}
		g.mu.Unlock()
		// A safety net: mochi ends the resend within the CONNECT's
		// handling, and the hook calls resendDone right after.
		time.AfterFunc(resendTimeout, g.resendDone)
	}
	n, err := g.enqueue(idx, b)
	for {
		g.mu.Lock()
		held := g.preConnack
		g.preConnack = nil
		if len(held) == 0 || err != nil {
			g.connack = connackSent
			g.mu.Unlock()
			return n, err
		}
		g.mu.Unlock()
		for _, c := range held {
			if resent && inflight(c.b) {
				continue
			}
			if _, err = g.enqueue(c.idx, c.b); err != nil {
				break
			}
		}
	}
}

// resendTimeout bounds the resend phase if resendDone never comes.
const resendTimeout = 10 * time.Second

// resendDone ends the resend phase (the hook's OnSessionEstablished, which
// mochi calls once it has resent the in-flight map): the new QoS 1/2
// PUBLISH packets written meanwhile go out, in order, but those the resend
// already wrote (as DUP).
func (g *gatedConn) resendDone() {
	g.mu.Lock()
	if !g.resending {
		g.mu.Unlock()
		return
	}
	held, resent := g.afterResend, g.resent
	g.resending, g.resent, g.afterResend = false, nil, nil
	g.mu.Unlock()
	for _, c := range held {
		if resent[idOf(c.b)] {
			continue
		}
		if _, err := g.enqueue(c.idx, c.b); err != nil {
			return // the connection is gone: the store has the messages
		}
	}
}

// idOf is the packet id of an encoded QoS 1/2 PUBLISH.
func idOf(p []byte) uint16 {
	id, _ := publishID(p, headerLen(p))
	return id
}

// sessionPresent reads the session present flag of an encoded CONNACK.
func sessionPresent(connack []byte) bool {
	hdr := headerLen(connack)
	return hdr > 0 && hdr < len(connack) && connack[hdr]&1 == 1
}

// inflight says whether an encoded packet is one mochi keeps in a
// session's in-flight map: a QoS 1 or 2 PUBLISH, or a PUBREL.
func inflight(p []byte) bool {
	t := p[0] >> 4
	return t == typePubrel || (t == typePublish && (p[0]>>1)&3 > 0)
}

// enqueue sends b once index idx is durable.
func (g *gatedConn) enqueue(idx uint64, b []byte) (int, error) {
	g.mu.Lock()
	for {
		if g.err != nil {
			err := g.err
			g.mu.Unlock()
			return 0, err
		}
		if g.closed {
			g.mu.Unlock()
			return 0, net.ErrClosed
		}
		if len(g.queue) == 0 && len(g.released) == 0 && !g.busy && g.d.Durable() >= idx {
			if err := g.write(g.win.admit(b, nil)); err != nil {
				return 0, err
			}
			g.connackOut(b)
			return len(b), nil
		}
		if g.queued < gateMaxQueued || len(g.queue) == 0 {
			break
		}
		g.cond.Wait() // back-pressure, as a full socket buffer would
	}
	g.queue = append(g.queue, gatedChunk{idx: idx, b: bytes.Clone(b)})
	g.queued += len(b)
	if !g.flusher {
		g.flusher = true
		go g.flush()
	}
	g.mu.Unlock()
	return len(b), nil
}

// flush writes held chunks as they become durable, coalescing all ready
// chunks into one write.
func (g *gatedConn) flush() {
	for {
		g.mu.Lock()
		for g.busy {
			g.cond.Wait()
		}
		if g.err != nil || (len(g.queue) == 0 && len(g.released) == 0) {
			g.stopFlusher()
			g.mu.Unlock()
			return
		}
		if len(g.released) > 0 {
			bufs := net.Buffers(g.released)
			g.released = nil
			_ = g.write(bufs) // an error is kept in g.err, which ends the loop
			continue
		}
		head := g.queue[0].idx
		g.mu.Unlock()

		if err := g.waitDurable(head); errors.Is(err, errKicked) {
			continue
		} else if err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.queue, g.queued = nil, 0
			g.stopFlusher()
			g.mu.Unlock()
			if cerr := g.Conn.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
				g.log.Debug("close client connection", "error", cerr)
			}
			return
		}

		g.mu.Lock()
		durable := g.d.Durable()
		var bufs net.Buffers
		var connack []byte
		n := 0
		for n < len(g.queue) && g.queue[n].idx <= durable {
			if isConnack(g.queue[n].b) {
				connack = g.queue[n].b
			}
			bufs = g.win.admit(g.queue[n].b, bufs)
			g.queued -= len(g.queue[n].b)
			n++
		}
		g.queue = g.queue[n:]
		if g.write(bufs) == nil { // an error is kept in g.err, which ends the loop
			g.connackOut(connack)
		}
	}
}

// isConnack says whether b, one packet as mochi writes it, is a CONNACK.
func isConnack(b []byte) bool { return len(b) > 0 && b[0]>>4 == typeConnack }

// connackOut frees the connection's admission slot once b, just written,
// was its CONNACK: the connection is then re-established, its session
// records durable, and the next one may start (admission.go). Holding the
// slot until then also bounds the CONNACKs one group commit releases at
// once, and so the SUBSCRIBEs that follow them.
func (g *gatedConn) connackOut(b []byte) {
	if isConnack(b) {
		g.admitted.release()
	}
}

// write sends bufs as the one writer; mu must be held, and is unlocked
// during the write and held again on return.
func (g *gatedConn) write(bufs net.Buffers) error {
	if len(bufs) == 0 {
		g.mu.Unlock()
		return nil
	}
	if !g.fenceValid() {
		if g.err == nil {
			g.err = ErrFenced
		}
		g.cond.Broadcast()
		g.mu.Unlock()
		if err := g.Conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			g.log.Debug("close fenced connection", "error", err)
		}
		return ErrFenced
	}
	g.busy = true
	g.mu.Unlock()
	_, err := bufs.WriteTo(g.Conn)
	g.mu.Lock()
	g.busy = false
	if err != nil && g.err == nil {
		g.err = err
	}
	g.cond.Broadcast()
	g.mu.Unlock()
	return err
}

// Read passes what the client sends to mochi, rejecting a malformed
// Remaining Length and freeing the outbound window on acknowledgements.
func (g *gatedConn) Read(p []byte) (int, error) {
	g.waitUnstrained()
	n, err := g.Conn.Read(p)
	if !g.fenceValid() {
		return 0, ErrFenced
	}
	if n > 0 {
		if ferr := g.in.feed(p[:n], g.acked); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

// acked frees the window slot of an acknowledged PUBLISH and hands the
// packets that now fit to the flusher.
func (g *gatedConn) acked(typ uint8, id uint16, reason byte) {
	if !freesWindow(typ, reason) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ready := g.win.ack(id)
	if len(ready) == 0 || g.err != nil {
		return
	}
	g.released = append(g.released, ready...)
	if !g.flusher {
		g.flusher = true
		go g.flush()
		return
	}
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

func (g *gatedConn) fenceValid() bool { return g.fence == nil || g.fence.Valid() }

// waitUnstrained holds a read while the fence is strained: until the lease
// is renewed, or until the fence runs out (the read then fails as fenced).
func (g *gatedConn) waitUnstrained() {
	s, ok := g.fence.(strainer)
	if !ok {
		return
	}
	eased, left := s.Strain()
	if eased == nil {
		return
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-eased:
	case <-t.C:
	}
}

// setWindow sets the outbound in-flight window (0: none). It must be
// called before the first PUBLISH is written.
func (g *gatedConn) setWindow(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.win.setLimit(n)
}

// stopFlusher marks the flusher gone; mu must be held.
func (g *gatedConn) stopFlusher() {
	g.flusher = false
	g.cond.Broadcast()
	if g.closed {
		g.drainOnce.Do(func() { close(g.drained) })
	}
}

func (g *gatedConn) waitDurable(idx uint64) error {
	for {
		ch := g.d.Changed()
		if g.d.Durable() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-g.d.Failed():
			if g.d.Durable() >= idx {
				return nil
			}
			return fmt.Errorf("%w: %w", ErrNotDurable, g.d.Err())
		case <-g.abort:
			return net.ErrClosed
		case <-g.kick:
			return errKicked
		}
	}
}

// Close stops accepting writes. Bytes already held are still sent if they
// become durable within gateDrainTimeout (a DISCONNECT after a PUBACK, say);
// then the connection closes.
func (g *gatedConn) Close() error {
	g.admitted.release()
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	draining := g.flusher
	g.cond.Broadcast()
	g.mu.Unlock()
	if !draining {
		g.abortOnce.Do(func() { close(g.abort) })
		return g.Conn.Close()
	}
	go func() {
		t := time.NewTimer(gateDrainTimeout)
		defer t.Stop()
		select {
		case <-g.drained:
		case <-t.C:
		}
		g.abortOnce.Do(func() { close(g.abort) })
		if err := g.Conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			g.log.Debug("close client connection", "error", err)
		}
	}()
	return nil
}
