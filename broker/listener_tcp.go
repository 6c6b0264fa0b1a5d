package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener is a TCP (or TLS) listener for mochi. It replaces mochi's
// listeners.TCP, which leaves a connection accepted while the listener
// closes neither served nor closed (the client hangs and a descriptor
// leaks: seen when a frozen leader resumes and steps down), and shares one
// error variable between connection goroutines. With proxy_protocol it
// reads the PROXY header of each connection (proxyproto.go) before the
// TLS handshake, which follows the header on the wire.
type tcpListener struct {
	id, address string
	tlsConf     *tls.Config
	proxy       proxyTrust    // nil: no proxy_protocol, connections are served as they come
	proxyWait   time.Duration // how long a PROXY header may take (proxyHeaderTimeout)
	log         *slog.Logger

	refused     func(reason string) // counts a refused connection (triad_proxy_refused_total); nil: not counted
	refusalWarn warnEvery           // the refusal warnings, at most one per refusalWarnEvery

	mu      sync.Mutex
	listen  net.Listener
	pending map[net.Conn]struct{} // accepted, not yet handed to mochi (mu)
	end     atomic.Bool
}

// newTCPListener makes the listener of c; with proxy (proxy_protocol's
// trusted peers) connections may start with a PROXY header.
func newTCPListener(c listeners.Config, proxy proxyTrust) *tcpListener {
	return &tcpListener{id: c.ID, address: c.Address, tlsConf: c.TLSConfig,
		proxy: proxy, proxyWait: proxyHeaderTimeout, pending: map[net.Conn]struct{}{}}
}

func (l *tcpListener) ID() string       { return l.id }
func (l *tcpListener) Protocol() string { return "tcp" }

func (l *tcpListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listen != nil {
		return l.listen.Addr().String()
	}
	return l.address
}

func (l *tcpListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.listen = ln
	l.mu.Unlock()
	return nil
}

func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.listen.Accept()
		if err != nil {
			return
		}
		if !l.hold(conn) {
			if err := conn.Close(); err != nil {
				l.log.Debug("close connection accepted while closing", "error", err)
			}
			continue
		}
		go l.serveConn(conn, establish)
	}
}

// hold records conn as accepted but not yet handed to mochi, unless the
// listener is closing.
func (l *tcpListener) hold(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end.Load() {
		return false
	}
	l.pending[conn] = struct{}{}
	return true
}

// handOver takes conn off the pending set for mochi, unless the listener
// closed meanwhile (conn is then closed already, or about to be).
func (l *tcpListener) handOver(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, conn)
	return !l.end.Load()
}

// serveConn waits for conn's first bytes (so that a silent connection
// takes no admission slot, admission.go), reads its PROXY header (with
// proxy_protocol), starts its TLS (tls listener) and hands it to mochi.
func (l *tcpListener) serveConn(conn net.Conn, establish listeners.EstablishFn) {
	raw := conn
	if l.proxy != nil {
		// The header read waits for the first bytes, within proxyWait.
		peer := conn.RemoteAddr()
		pc, err := readProxyHeader(conn, l.proxy.trusts(peer), l.proxyWait)
		if err != nil {
			l.handOver(raw)
			l.refuseProxied(conn, peer, err)
			return
		}
		conn = pc
	} else if err := waitReadable(conn); err != nil {
		l.handOver(raw)
		if cerr := conn.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			l.log.Debug("close connection", "error", cerr)
		}
		return
	}
	if !l.handOver(raw) {
		// Closed meanwhile: the clients are gone.
		if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			l.log.Debug("close connection accepted while closing", "error", err)
		}
		return
	}
	if l.tlsConf != nil {
		conn = tls.Server(conn, l.tlsConf)
	}
	switch err := establish(l.id, conn); {
	case err == nil, errors.Is(err, ErrFenced), errors.Is(err, errListenerClosed):
	case errors.Is(err, ErrAuthBlocked):
		// Logged once per block; a line per refusal would let a
		// password guesser flood the log.
		l.log.Debug("client connection", "remote", conn.RemoteAddr(), "error", err)
	default:
		l.log.Warn("client connection", "remote", conn.RemoteAddr(), "error", err)
	}
}

// refuseProxied closes conn, whose PROXY header from peer failed with err.
// A forged or malformed header is logged at Warn; a peer that sent
// nothing in time, or left, only at Debug.
func (l *tcpListener) refuseProxied(conn net.Conn, peer net.Addr, err error) {
	switch {
	case errors.Is(err, errProxyUntrusted):
		l.countRefusal("untrusted")
		if n, due := l.refusalWarn.due(time.Now()); due {
			l.log.Warn("connection refused: PROXY header from an untrusted peer", "remote", peer, "refused_since_last_warning", n)
		}
	case errors.Is(err, errProxyHeader):
		l.countRefusal("invalid")
		if n, due := l.refusalWarn.due(time.Now()); due {
			l.log.Warn("connection refused: invalid PROXY header", "remote", peer, "error", err, "refused_since_last_warning", n)
		}
	default:
		l.countRefusal("no_header")
		l.log.Debug("connection closed before its PROXY header or first bytes", "remote", peer,
			"timeout", l.proxyWait, "error", err)
	}
	if cerr := conn.Close(); cerr != nil {
		l.log.Debug("close refused connection", "remote", peer, "error", cerr)
	}
}

func (l *tcpListener) countRefusal(reason string) {
	if l.refused != nil {
		l.refused(reason)
	}
}

// refusalWarnEvery bounds the warnings about refused PROXY headers: a
// misconfigured load balancer or a scanner would otherwise log a line per
// connection.
const refusalWarnEvery = 10 * time.Second

// warnEvery lets a warning through at most every refusalWarnEvery and
// counts the occurrences in between.
type warnEvery struct {
	mu     sync.Mutex
	last   time.Time
	since  int // occurrences since the last warning, this one included
	period time.Duration
}

// due counts one occurrence at now and says whether to warn, with how
// many occurrences the warning covers.
func (w *warnEvery) due(now time.Time) (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.since++
	period := w.period
	if period == 0 {
		period = refusalWarnEvery
	}
	if !w.last.IsZero() && now.Sub(w.last) < period {
		return 0, false
	}
	n := w.since
	w.last, w.since = now, 0
	return n, true
}

// Close stops accepting, has mochi's clients closed, and closes the
// connections not yet handed to mochi.
func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	first := l.end.CompareAndSwap(false, true)
	l.mu.Unlock()
	if first {
		closeClients(l.id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listen != nil {
		if err := l.listen.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			l.log.Debug("close listener", "error", err)
		}
	}
	for conn := range l.pending {
		if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			l.log.Debug("close connection accepted while closing", "error", err)
		}
		delete(l.pending, conn)
	}
}
