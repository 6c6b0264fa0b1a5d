package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// sinkConn is a client connection whose writes go nowhere.
type sinkConn struct{ net.Conn }

func (sinkConn) Write(b []byte) (int, error)      { return len(b), nil }
func (sinkConn) Close() error                     { return nil }
func (sinkConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (sinkConn) SetDeadline(time.Time) error      { return nil }
func (sinkConn) SetWriteDeadline(time.Time) error { return nil }

// TestCloseListenerClientsWhileClientsRegister: closing a listener's
// clients while others register must not hang. mochi's own closer
// (Clients.GetByListener) read-locks the client list twice, and a
// registration between the two deadlocks it for good (mochi-mqtt/server#488;
// with this churn it hung within the 1.5 s in 10 runs out of 10); the
// broker closes through closeListenerClients instead.
func TestCloseListenerClientsWhileClientsRegister(t *testing.T) {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	mine := srv.NewClient(sinkConn{}, "t", "mine", false)
	other := srv.NewClient(sinkConn{}, "other", "other", false)
	srv.Clients.Add(mine)
	srv.Clients.Add(other)

	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				cl := srv.NewClient(sinkConn{}, "churn", fmt.Sprintf("c%d-%d", w, i), false)
				srv.Clients.Add(cl)
				srv.Clients.Delete(cl.ID)
			}
		}()
	}
	defer func() {
		stop.Store(true)
		if !t.Failed() { // a deadlocked writer cannot be waited for
			wg.Wait()
		}
	}()
	log := slog.New(slog.DiscardHandler)
	for start := time.Now(); time.Since(start) < 1500*time.Millisecond; {
		done := make(chan struct{})
		go func() { closeListenerClients(srv, "t", log); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("closing the listener's clients hangs while clients register")
		}
	}
	if !mine.Closed() {
		t.Error("the listener's client is still open")
	}
	if other.Closed() {
		t.Error("a client of another listener was closed")
	}
}

// fakeListener hands the connections sent on conns to establish.
type fakeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func newFakeListener() *fakeListener {
	return &fakeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (f *fakeListener) ID() string              { return "fake" }
func (f *fakeListener) Address() string         { return "fake" }
func (f *fakeListener) Protocol() string        { return "tcp" }
func (f *fakeListener) Init(*slog.Logger) error { return nil }
func (f *fakeListener) Close(close listeners.CloseFn) {
	f.once.Do(func() { close(f.ID()); closeChan(f.closed) })
}

func closeChan(c chan struct{}) { close(c) }

func (f *fakeListener) Serve(establish listeners.EstablishFn) {
	for {
		select {
		case c := <-f.conns:
			f.wg.Add(1)
			go func() { defer f.wg.Done(); _ = establish(f.ID(), c) }()
		case <-f.closed:
			return
		}
	}
}

// TestGatedListenerCloseEndsConnectionsBeforeRegistration: a connection
// mochi is still reading the CONNECT of is not among mochi's clients, so
// closing the clients missed it and mochi's Close waited for it as long as
// the client stayed. The gated listener closes it.
func TestGatedListenerCloseEndsConnectionsBeforeRegistration(t *testing.T) {
	inner := newFakeListener()
	gl := newGatedListener(inner, nil, newFakeDurability(), nil, nil, slog.New(slog.DiscardHandler))
	reading := make(chan struct{})
	ended := make(chan error, 1)
	go gl.Serve(func(_ string, c net.Conn) error {
		close(reading)
		_, err := io.ReadAll(c) // mochi waiting for the CONNECT
		ended <- err
		return err
	})
	srvSide, cliSide := net.Pipe()
	defer cliSide.Close()
	inner.conns <- srvSide
	<-reading
	gl.Close(func(string) { t.Error("mochi's closer was called") })
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection still reading its CONNECT outlived the listener's Close")
	}
	inner.wg.Wait()
}

// TestGatedListenerAdmitsInTurn: with one slot, the second connection is
// handed to mochi only once the first one's CONNACK is written, and a
// connection still waiting when the listener closes is closed unserved.
func TestGatedListenerAdmitsInTurn(t *testing.T) {
	inner := newFakeListener()
	gl := newGatedListener(inner, nil, newFakeDurability(), nil, newAdmission(1, 0), slog.New(slog.DiscardHandler))
	connack := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}})
	started := make(chan string, 3)
	answer := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{}), "c": make(chan struct{})}
	go gl.Serve(func(_ string, c net.Conn) error {
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil { // "CONNECT"
			return err
		}
		name := string(buf)
		started <- name
		<-answer[name] // working on the CONNECT
		if _, err := c.Write(connack); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, c)
		return err
	})
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func(name string) net.Conn {
		s, c := net.Pipe()
		clients = append(clients, c)
		inner.conns <- s
		go func() {
			if _, err := c.Write([]byte(name)); err == nil {
				_, _ = io.Copy(io.Discard, c)
			}
		}()
		return c
	}
	notStarted := func(why string) {
		t.Helper()
		select {
		case name := <-started:
			t.Fatalf("%q handed to mochi %s", name, why)
		case <-time.After(50 * time.Millisecond):
		}
	}
	dial("a")
	if got := <-started; got != "a" {
		t.Fatalf("first started %q", got)
	}
	dial("b")
	notStarted("while a's CONNECT was being worked on")
	close(answer["a"])
	if got := <-started; got != "b" {
		t.Fatalf("after a's CONNACK, %q started, want b", got)
	}
	// b holds the slot: c waits, and is closed unserved when the
	// listener closes.
	dial("c")
	notStarted("while b's CONNECT was being worked on")
	gl.Close(func(string) {})
	close(answer["b"])
	inner.wg.Wait()
	notStarted("after the listener closed")
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestTCPListenerCloseEndsSilentConnections: a connection that never sent
// a byte is closed when the listener closes, never reaching mochi.
func TestTCPListenerCloseEndsSilentConnections(t *testing.T) {
	l := newTCPListener(listeners.Config{ID: "t", Address: "127.0.0.1:0"}, nil)
	if err := l.Init(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Serve(func(string, net.Conn) error { served <- struct{}{}; return nil })
	}()
	c, err := net.Dial("tcp", l.Address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the connection accepted", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.pending) == 1
	})
	l.Close(func(string) {})
	<-done
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("silent connection after the listener closed: read %v, want EOF", err)
	}
	select {
	case <-served:
		t.Fatal("a connection that sent nothing was handed to mochi")
	default:
	}
}

// laggingFence is a valid Fence whose renewals the test makes lag.
type laggingFence struct {
	mu    sync.Mutex
	eased chan struct{} // nil: not lagging
}

func (f *laggingFence) Valid() bool { return true }

func (f *laggingFence) Lagging() (<-chan struct{}, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.eased == nil {
		return nil, 0
	}
	return f.eased, time.Hour
}

func (f *laggingFence) set(lagging bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if lagging && f.eased == nil {
		f.eased = make(chan struct{})
	} else if !lagging && f.eased != nil {
		close(f.eased)
		f.eased = nil
	}
}

// TestGatedListenerHoldsNewConnectionsWhileRenewalsLag: while the fence
// says the lease renewals are late, a new connection is not handed to
// mochi; once a renewal lands it is.
func TestGatedListenerHoldsNewConnectionsWhileRenewalsLag(t *testing.T) {
	inner := newFakeListener()
	fence := &laggingFence{}
	fence.set(true)
	gl := newGatedListener(inner, nil, newFakeDurability(), fence, nil, slog.New(slog.DiscardHandler))
	started := make(chan struct{}, 1)
	go gl.Serve(func(_ string, c net.Conn) error {
		started <- struct{}{}
		_, err := io.Copy(io.Discard, c)
		return err
	})
	defer gl.Close(func(string) {})
	s, c := net.Pipe()
	defer c.Close()
	inner.conns <- s
	select {
	case <-started:
		t.Fatal("a new connection was handed to mochi while the renewals lagged")
	case <-time.After(50 * time.Millisecond):
	}
	fence.set(false) // a renewal lands
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection still waits after the renewal landed")
	}
}
