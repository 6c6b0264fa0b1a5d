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

	mu     sync.Mutex
	listen net.Listener
	end    atomic.Bool
}

// newTCPListener makes the listener of c; with proxy (proxy_protocol's
// trusted peers) connections may start with a PROXY header.
func newTCPListener(c listeners.Config, proxy proxyTrust) *tcpListener {
	return &tcpListener{id: c.ID, address: c.Address, tlsConf: c.TLSConfig,
		proxy: proxy, proxyWait: proxyHeaderTimeout}
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
		if l.end.Load() {
			if err := conn.Close(); err != nil {
				l.log.Debug("close connection accepted while closing", "error", err)
			}
			continue
		}
		go l.serveConn(conn, establish)
	}
}

// serveConn reads conn's PROXY header (with proxy_protocol), starts its
// TLS (tls listener) and hands it to mochi.
func (l *tcpListener) serveConn(conn net.Conn, establish listeners.EstablishFn) {
	if l.proxy != nil {
		peer := conn.RemoteAddr()
		pc, err := readProxyHeader(conn, l.proxy.trusts(peer), l.proxyWait)
		if err != nil {
			l.refuseProxied(conn, peer, err)
			return
		}
		conn = pc
		if l.end.Load() {
			// Closed while the header was read: the clients are gone.
			if err := conn.Close(); err != nil {
				l.log.Debug("close connection accepted while closing", "error", err)
			}
			return
		}
	}
	if l.tlsConf != nil {
		conn = tls.Server(conn, l.tlsConf)
	}
	switch err := establish(l.id, conn); {
	case err == nil, errors.Is(err, ErrFenced):
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
		l.log.Warn("connection refused: PROXY header from an untrusted peer", "remote", peer)
	case errors.Is(err, errProxyHeader):
		l.log.Warn("connection refused: invalid PROXY header", "remote", peer, "error", err)
	default:
		l.log.Debug("connection closed before its PROXY header or first bytes", "remote", peer,
			"timeout", l.proxyWait, "error", err)
	}
	if cerr := conn.Close(); cerr != nil {
		l.log.Debug("close refused connection", "remote", peer, "error", cerr)
	}
}

func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	if l.end.CompareAndSwap(false, true) {
		closeClients(l.id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listen != nil {
		if err := l.listen.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			l.log.Debug("close listener", "error", err)
		}
	}
}
