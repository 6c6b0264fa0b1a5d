package broker

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at   time.Time
		wait time.Duration // the delay reserve must return
	}
	cases := []struct {
		name        string
		rate, burst float64
		steps       []step
	}{
		{"burst then spaced by 1/rate, in reservation order", 10, 1, []step{
			{at(0), 0}, {at(0), 100 * time.Millisecond}, {at(0), 200 * time.Millisecond}, {at(0), 300 * time.Millisecond},
		}},
		{"a burst of five goes at once, the sixth waits", 10, 5, []step{
			{at(0), 0}, {at(0), 0}, {at(0), 0}, {at(0), 0}, {at(0), 0}, {at(0), 100 * time.Millisecond},
		}},
		{"tokens refill with time, up to the burst", 10, 2, []step{
			{at(0), 0}, {at(0), 0}, {at(0), 100 * time.Millisecond},
			// 1 s later: the debt of one is paid and the bucket is full
			// again (2), not 10.
			{at(time.Second), 0}, {at(time.Second), 0}, {at(time.Second), 100 * time.Millisecond},
		}},
		{"waiting part of an interval shortens the wait", 4, 1, []step{
			{at(0), 0}, {at(100 * time.Millisecond), 150 * time.Millisecond},
		}},
		{"a clock that goes back refills nothing", 10, 1, []step{
			{at(time.Second), 0}, {at(0), 100 * time.Millisecond}, {at(time.Second), 200 * time.Millisecond},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTokenBucket(c.rate, c.burst)
			for i, s := range c.steps {
				if got := b.reserve(s.at); got != s.wait {
					t.Fatalf("step %d at +%v: wait %v, want %v", i, s.at.Sub(t0), got, s.wait)
				}
			}
		})
	}
}

func TestConnectBurst(t *testing.T) {
	for rate, want := range map[int]float64{1: 1, 9: 1, 10: 1, 100: 10, 2500: 250} {
		if got := connectBurst(rate); got != want {
			t.Errorf("connectBurst(%d) = %v, want %v", rate, got, want)
		}
	}
}

// admitted runs a.admit in a goroutine; the channel gets its result.
type admitResult struct {
	t   *admitTicket
	err error
}

func admitAsync(a *admission, done <-chan struct{}) <-chan admitResult {
	ch := make(chan admitResult, 1)
	go func() {
		t, err := a.admit(done)
		ch <- admitResult{t, err}
	}()
	return ch
}

func TestAdmissionBoundsConnectsInProgress(t *testing.T) {
	a := newAdmission(2, 0)
	done := make(chan struct{})
	t1, err1 := a.admit(done)
	t2, err2 := a.admit(done)
	if err1 != nil || err2 != nil {
		t.Fatalf("admit: %v, %v", err1, err2)
	}
	third := admitAsync(a, done)
	select {
	case r := <-third:
		t.Fatalf("a third connection was admitted with two in progress (err %v)", r.err)
	case <-time.After(50 * time.Millisecond):
	}
	t1.release()
	t1.release() // idempotent: must not free a second slot
	r := <-third
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := a.inProgress(); got != 2 {
		t.Fatalf("in progress %d, want 2", got)
	}
	fourth := admitAsync(a, done)
	select {
	case r := <-fourth:
		t.Fatalf("admitted beyond the bound after a double release (err %v)", r.err)
	case <-time.After(50 * time.Millisecond):
	}
	close(done) // the listener closes
	if r := <-fourth; !errors.Is(r.err, errListenerClosed) {
		t.Fatalf("waiting admit after close: %v, want errListenerClosed", r.err)
	}
	t2.release()
	r.t.release()
	if got, waited := a.inProgress(), a.waited.Load(); got != 0 || waited != 1 {
		t.Fatalf("in progress %d waited %d, want 0 and 1", got, waited)
	}
}

func TestAdmissionHoldGivesTheSlotBack(t *testing.T) {
	a := newAdmission(1, 0)
	a.hold = 20 * time.Millisecond
	done := make(chan struct{})
	defer close(done)
	slow, err := a.admit(done) // a client that never sends its CONNECT
	if err != nil {
		t.Fatal(err)
	}
	r := <-admitAsync(a, done) // admitted once the hold runs out
	if r.err != nil {
		t.Fatal(r.err)
	}
	slow.release() // late: must not free the slot the next one holds
	if got := a.inProgress(); got != 1 {
		t.Fatalf("in progress %d after the late release, want 1", got)
	}
	if got := a.timedOut.Load(); got != 1 {
		t.Fatalf("timed out %d, want 1", got)
	}
	r.t.release()
}

func TestAdmissionRatePaces(t *testing.T) {
	a := newAdmission(0, 50) // burst 5, then one per 20 ms
	done := make(chan struct{})
	defer close(done)
	start := time.Now()
	for range 10 {
		tk, err := a.admit(done)
		if err != nil {
			t.Fatal(err)
		}
		tk.release()
	}
	// 5 at once, 5 more 20 ms apart: at least 100 ms minus the refill
	// while the first ones went.
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Fatalf("10 admissions at 50/s with a burst of 5 took %v, want >= 80ms", el)
	}
}

func TestAdmissionOff(t *testing.T) {
	a := newAdmission(0, 0)
	if a != nil {
		t.Fatalf("newAdmission(0, 0) = %+v, want nil (off)", a)
	}
	tk, err := a.admit(nil)
	if err != nil || tk != nil {
		t.Fatalf("nil admission: %v %v", tk, err)
	}
	tk.release() // a nil ticket is valid
	if a.inProgress() != 0 {
		t.Fatal("nil admission has connections in progress")
	}
}

func TestWaitReadable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res := make(chan error, 1)
	go func() { res <- waitReadable(srv) }()
	select {
	case err := <-res:
		t.Fatalf("waitReadable returned before the client sent anything: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := cli.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitReadable still waiting after the client sent bytes")
	}
	// Bytes already there when the wait starts: no readiness event will
	// come for them, and the wait must still end at once.
	go func() { res <- waitReadable(srv) }()
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitReadable waits although bytes are waiting to be read")
	}
	buf := make([]byte, 2)
	if _, err := srv.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read after waitReadable: %q %v; want the bytes unconsumed", buf, err)
	}
	// A closed connection ends the wait.
	go func() { res <- waitReadable(srv) }()
	srv.Close()
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("waitReadable on a closed connection: nil error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitReadable still waiting after its connection closed")
	}
}

// TestGateFreesTheSlotOnceTheConnackIsOut: a connection keeps its
// admission slot while its CONNACK waits for the session's records to be
// durable, and gives it back once the CONNACK is written.
func TestGateFreesTheSlotOnceTheConnackIsOut(t *testing.T) {
	a := newAdmission(1, 0)
	tk, err := a.admit(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := newFakeDurability()
	p := newPipeGate(t, d)
	p.g.admitted = tk
	d.enqueue() // the session's records, not durable yet
	connack := encode(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}})
	if _, err := p.g.Write(connack); err != nil {
		t.Fatal(err)
	}
	if got := a.inProgress(); got != 1 {
		t.Fatalf("slot freed while the CONNACK waits to be durable (in progress %d)", got)
	}
	d.commit()
	p.waitReceived(t, "the CONNACK", connack)
	waitFor(t, "the slot freed", func() bool { return a.inProgress() == 0 })
}
