package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// gatedListener wraps a listener so that every connection it hands to
// mochi is admitted (admission.go), then gated (gatedConn); and so that
// closing it ends every one of them.
//
// Closing: mochi's Server.Close closes each listener, then waits for every
// client goroutine to end. mochi's own closer of a listener's clients,
// Clients.GetByListener, read-locks the client list twice
// (mochi-mqtt/server#488): a connection registering in between
// (Clients.Add waits for the write lock, which holds back the second read
// lock) deadlocks it for good. A leader that fenced itself during a
// reconnect storm hung there, its elector stuck in Demote while its lease
// was kept alive, and no node served again. And a connection that was
// still reading its CONNECT when the clients were listed was never closed,
// so the wait for it lasted as long as the client stayed. So the listener
// keeps its own set of connections and closes all of them.
type gatedListener struct {
	listeners.Listener
	d     Durability
	fence Fence
	log   *slog.Logger
	admit *admission   // nil: every connection at once
	srv   *mqtt.Server // for the clients' DISCONNECT on close

	mu      sync.Mutex
	live    map[*gatedConn]struct{} // handed to mochi, not ended
	closing chan struct{}           // closed by Close
	closed  bool
}

func newGatedListener(l listeners.Listener, srv *mqtt.Server, d Durability, fence Fence, admit *admission,
	log *slog.Logger) *gatedListener {
	return &gatedListener{Listener: l, srv: srv, d: d, fence: fence, admit: admit, log: log,
		live: map[*gatedConn]struct{}{}, closing: make(chan struct{})}
}

func (l *gatedListener) Serve(establish listeners.EstablishFn) {
	l.Listener.Serve(func(id string, c net.Conn) error {
		return l.establish(id, c, establish)
	})
}

// establish admits c, then hands it to mochi as a gatedConn and returns
// when mochi is done with it.
func (l *gatedListener) establish(id string, c net.Conn, establish listeners.EstablishFn) error {
	if l.fence != nil && !l.fence.Valid() {
		return errors.Join(ErrFenced, c.Close())
	}
	if err := l.awaitRenewal(); err != nil {
		return errors.Join(err, c.Close())
	}
	ticket, err := l.admit.admit(l.closing)
	if err != nil {
		return errors.Join(err, c.Close())
	}
	defer ticket.release() // ended before its CONNACK
	if l.fence != nil && !l.fence.Valid() {
		return errors.Join(ErrFenced, c.Close())
	}
	g := newGatedConn(c, l.d, l.fence, l.log)
	g.admitted = ticket
	if !l.track(g) {
		return errors.Join(errListenerClosed, c.Close())
	}
	defer l.untrack(g)
	return establish(id, g)
}

// lagger is the optional ability of a Fence to say that its lease
// renewals are late (see election.Fence.Lagging).
type lagger interface {
	Lagging() (eased <-chan struct{}, left time.Duration)
}

// awaitRenewal holds a new connection while the lease renewals are late,
// until one lands, the fence runs out (the caller then finds it invalid)
// or the listener closes: a node whose renewals lag takes on no new
// clients, which keeps the CPU for the renewals (measured: a new leader
// admitting a reconnect storm at full speed fenced itself 2.5 s after it
// began to serve, on two cores shared with other work).
func (l *gatedListener) awaitRenewal() error {
	lg, ok := l.fence.(lagger)
	if !ok {
		return nil
	}
	for {
		eased, left := lg.Lagging()
		if eased == nil {
			return nil
		}
		t := time.NewTimer(left)
		select {
		case <-eased:
		case <-t.C:
		case <-l.closing:
			t.Stop()
			return errListenerClosed
		}
		t.Stop()
	}
}

// track adds g to the live connections, unless the listener is closed.
func (l *gatedListener) track(g *gatedConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.live[g] = struct{}{}
	return true
}

func (l *gatedListener) untrack(g *gatedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.live, g)
}

// Close closes the listener and ends every connection it handed to mochi:
// mochi's registered clients first, through mochi (a 5.0 client is told
// the server is shutting down), then whatever is left.
func (l *gatedListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.closing)
	}
	l.mu.Unlock()
	l.Listener.Close(l.closeClients)
	l.mu.Lock()
	left := make([]*gatedConn, 0, len(l.live))
	for g := range l.live {
		left = append(left, g)
	}
	l.mu.Unlock()
	for _, g := range left {
		if err := g.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			l.log.Debug("close client connection", "error", err)
		}
	}
}

// closeClients disconnects mochi's clients of listener id; it replaces
// mochi's closeListenerClients (see gatedListener).
func (l *gatedListener) closeClients(id string) {
	closeListenerClients(l.srv, id, l.log)
}

// closeListenerClients disconnects the clients of srv on listener id,
// reading the client list under one read lock.
func closeListenerClients(srv *mqtt.Server, id string, log *slog.Logger) {
	if srv == nil {
		return
	}
	for _, cl := range srv.Clients.GetAll() {
		if cl.Net.Listener != id || cl.Closed() {
			continue
		}
		// The error is the reason code the client was disconnected with.
		if err := srv.DisconnectClient(cl, packets.ErrServerShuttingDown); err != nil &&
			!errors.Is(err, packets.ErrServerShuttingDown) {
			log.Debug("disconnect client", "client", cl.ID, "error", err)
		}
	}
}
