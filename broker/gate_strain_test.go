package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// strainedFence is a Fence whose strain the test sets by hand.
type strainedFence struct {
	mu     sync.Mutex
	valid  bool
	eased  chan struct{} // nil: not strained
	left   time.Duration
	asked  int // Strain calls while strained
	askedC chan struct{}
}

func (f *strainedFence) Valid() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.valid }

func (f *strainedFence) Strain() (<-chan struct{}, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.eased == nil {
		return nil, 0
	}
	f.asked++
	select {
	case f.askedC <- struct{}{}:
	default:
	}
	return f.eased, f.left
}

func (f *strainedFence) strain(left time.Duration) {
	f.mu.Lock()
	f.eased, f.left = make(chan struct{}), left
	f.mu.Unlock()
}

func (f *strainedFence) ease() {
	f.mu.Lock()
	close(f.eased)
	f.eased = nil
	f.mu.Unlock()
}

// readResult runs one Read on g in the background.
func readResult(g *gatedConn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := g.Read(make([]byte, 16))
		done <- err
	}()
	return done
}

// TestGateReadWaitsWhileStrained checks that a strained fence holds client
// reads until the lease is renewed, and that they go on afterwards.
func TestGateReadWaitsWhileStrained(t *testing.T) {
	f := &strainedFence{valid: true, askedC: make(chan struct{}, 1)}
	f.strain(time.Hour)
	srv, cli := net.Pipe()
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	g := newGatedConn(srv, newFakeDurability(), f, slog.New(slog.DiscardHandler))

	done := readResult(g)
	select {
	case <-f.askedC: // the read asked the fence and is waiting on it
	case <-time.After(5 * time.Second):
		t.Fatal("the read never asked the fence whether it is strained")
	}
	// The client's bytes are there, but the read must not take them:
	// net.Pipe's Write returns only once a Read consumed them.
	wrote := make(chan error, 1)
	go func() { _, err := cli.Write([]byte{0xc0, 0}); wrote <- err }() // PINGREQ
	select {
	case err := <-done:
		t.Fatalf("read returned (err %v) while the fence was strained", err)
	case <-wrote:
		t.Fatal("the client's bytes were read while the fence was strained")
	case <-time.After(50 * time.Millisecond): // a bound on a negative, not a synchronisation
	}
	f.ease()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read after the renewal: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read still waits after the fence eased")
	}
}

// TestGateStrainEndsInFencing checks that a strained read whose lease is
// not renewed waits no longer than the fence lasts, then fails as fenced.
func TestGateStrainEndsInFencing(t *testing.T) {
	f := &strainedFence{valid: true, askedC: make(chan struct{}, 1)}
	f.strain(20 * time.Millisecond)
	srv, cli := net.Pipe()
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	g := newGatedConn(srv, newFakeDurability(), f, slog.New(slog.DiscardHandler))
	done := readResult(g)
	select {
	case <-f.askedC:
	case <-time.After(5 * time.Second):
		t.Fatal("the read never asked the fence whether it is strained")
	}
	f.mu.Lock()
	f.valid = false // the deadline passed without a renewal
	f.mu.Unlock()
	go func() { _, _ = cli.Write([]byte{0xc0, 0}) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("read after the fence ran out: %v; want ErrFenced", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a strained read outlived its fence")
	}
}
