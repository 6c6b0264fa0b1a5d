package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener is a TCP (or TLS) listener for mochi. It replaces mochi's
// listeners.TCP, which leaves a connection accepted while the listener
// closes neither served nor closed (the client hangs and a descriptor
// leaks: seen when a frozen leader resumes and steps down), and shares one
// error variable between connection goroutines.
type tcpListener struct {
	id, address string
	tlsConf     *tls.Config
	log         *slog.Logger

	mu     sync.Mutex
	listen net.Listener
	end    atomic.Bool
}

func newTCPListener(c listeners.Config) *tcpListener {
	return &tcpListener{id: c.ID, address: c.Address, tlsConf: c.TLSConfig}
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
	if l.tlsConf != nil {
		ln = tls.NewListener(ln, l.tlsConf)
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
		go func() {
			if err := establish(l.id, conn); err != nil && !errors.Is(err, ErrFenced) {
				l.log.Warn("client connection", "listener", l.id, "error", err)
			}
		}()
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
			l.log.Debug("close listener", "listener", l.id, "error", err)
		}
	}
}
