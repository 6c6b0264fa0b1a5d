package election

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// fakeEtcd answers renewals after a delay, or with an error.
type fakeEtcd struct {
	delay    time.Duration
	ttl      int64
	fail     func(n int64) error // error of the nth renewal (from 1), or nil
	calls    atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func (f *fakeEtcd) renew(ctx context.Context) (int64, error) {
	n := f.calls.Add(1)
	in := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if in <= m || f.maxIn.CompareAndSwap(m, in) {
			break
		}
	}
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return 0, err
		}
	}
	t := time.NewTimer(f.delay) // the round trip
	defer t.Stop()
	select {
	case <-t.C:
		return f.ttl, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// leadingElector is an elector leading with a fresh lease of TTL 1 s and
// margin 300 ms (fence deadline 700 ms after each renewal's send).
func leadingElector(t *testing.T) *Elector {
	t.Helper()
	e := New(Options{Name: "n1", TTL: time.Second, Margin: 300 * time.Millisecond, Log: testLog()})
	e.fence.extend(time.Now().Add(700 * time.Millisecond))
	e.fence.setLeader(true)
	return e
}

func runKeepAlive(t *testing.T, e *Elector, f *fakeEtcd) (lost chan struct{}, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lost = make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); e.keepAlive(ctx, f.renew, lost) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return lost, stop
}

// TestKeepAliveSlowAnswersKeepTheFence: etcd (or this node's own CPU)
// answers every renewal after 400 ms, more than a third of the TTL but well
// within TTL − margin. Each answer still proves the lease alive until its
// send time + TTL − margin, so the fence must hold throughout. (Renewals
// given up after TTL/3, as they once were, were all thrown away and the
// leader fenced itself after 0.7 s.)
func TestKeepAliveSlowAnswersKeepTheFence(t *testing.T) {
	e := leadingElector(t)
	f := &fakeEtcd{delay: 400 * time.Millisecond, ttl: 1}
	runKeepAlive(t, e, f)
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); {
		if !e.fence.Valid() {
			t.Fatalf("fence lapsed with renewals answered after %v (calls %d)", f.delay, f.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := f.maxIn.Load(); m < 2 {
		t.Errorf("at most %d renewal in flight: renewals do not overlap", m)
	}
}

// TestKeepAliveNeverExtendsWithoutAnAnswer: renewals that are never
// answered leave the fence to run out at the last deadline, and no more
// than keepAliveInFlight wait at once.
func TestKeepAliveNeverExtendsWithoutAnAnswer(t *testing.T) {
	e := leadingElector(t)
	f := &fakeEtcd{delay: time.Hour, ttl: 1}
	runKeepAlive(t, e, f)
	poll(t, 2*time.Second, "the fence to lapse", func() bool { return !e.fence.Valid() })
	if r := e.fence.Remaining(); r > 0 {
		t.Fatalf("fence extended without an answer (remaining %v)", r)
	}
	if m := f.maxIn.Load(); m > keepAliveInFlight {
		t.Fatalf("%d renewals in flight, want at most %d", m, keepAliveInFlight)
	}
}

// TestKeepAliveRetriesAFailedRenewalSoon: a renewal refused at once (etcd
// electing a raft leader) is followed by another after keepAliveRetry, not
// a sixth of the TTL later.
func TestKeepAliveRetriesAFailedRenewalSoon(t *testing.T) {
	e := leadingElector(t)
	e.o.TTL = 6 * time.Second // renewals every second: only the retry can come sooner
	e.o.Margin = 5300 * time.Millisecond
	f := &fakeEtcd{ttl: 6, fail: func(n int64) error {
		if n <= 3 {
			return rpctypes.ErrNoLeader
		}
		return nil
	}}
	start := time.Now()
	runKeepAlive(t, e, f)
	poll(t, 2*time.Second, "a renewal to land after three refusals", func() bool { return f.calls.Load() >= 4 })
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Fatalf("three refusals and a success took %v: the failed renewals were not retried soon", el)
	}
}

// TestKeepAliveLeaseGone: etcd saying the lease is gone ends the loop and
// closes lost.
func TestKeepAliveLeaseGone(t *testing.T) {
	e := leadingElector(t)
	f := &fakeEtcd{fail: func(int64) error { return rpctypes.ErrLeaseNotFound }}
	lost, _ := runKeepAlive(t, e, f)
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("lost not closed after etcd said the lease is gone")
	}
	// A granted TTL of 0 says the same.
	e2 := leadingElector(t)
	lost2, _ := runKeepAlive(t, e2, &fakeEtcd{ttl: 0})
	select {
	case <-lost2:
	case <-time.After(5 * time.Second):
		t.Fatal("lost not closed after a renewal granted TTL 0")
	}
}

// TestKeepAliveStops: cancelling the context ends the loop, renewals in
// flight included.
func TestKeepAliveStops(t *testing.T) {
	e := leadingElector(t)
	f := &fakeEtcd{delay: time.Hour, ttl: 1}
	_, stop := runKeepAlive(t, e, f)
	poll(t, 2*time.Second, "a renewal in flight", func() bool { return f.inFlight.Load() > 0 })
	stop()
	poll(t, 2*time.Second, "the renewals to end", func() bool { return f.inFlight.Load() == 0 })
}

func TestLagThreshold(t *testing.T) {
	for _, c := range []struct {
		name        string
		ttl, margin time.Duration
		want        time.Duration
	}{
		{"demo: 2s lease, 500ms margin: two of the 333ms renewals missed", 2 * time.Second, 500 * time.Millisecond, 833333334 * time.Nanosecond},
		{"10s lease, 1s margin", 10 * time.Second, time.Second, 5666666668 * time.Nanosecond},
		{"a margin that leaves less: the strain threshold", time.Second, 700 * time.Millisecond, 250 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := lagThreshold(c.ttl, c.margin); got != c.want {
				t.Fatalf("lagThreshold(%v, %v) = %v, want %v", c.ttl, c.margin, got, c.want)
			}
		})
	}
}

// TestFenceLagging: the fence lags once less than the lag threshold is
// left, and a renewal (or losing leadership) wakes those waiting on it.
func TestFenceLagging(t *testing.T) {
	f := newFence(time.Second)
	f.lag = time.Minute
	f.setLeader(true)
	f.extend(time.Now().Add(time.Hour))
	if eased, _ := f.Lagging(); eased != nil {
		t.Fatal("lagging with an hour left and a one-minute threshold")
	}
	f.reset()
	f.extend(time.Now().Add(30 * time.Second))
	eased, left := f.Lagging()
	if eased == nil || left <= 0 || left > 30*time.Second {
		t.Fatalf("Lagging with 30s left = %v, %v; want lagging with at most 30s left", eased, left)
	}
	if e, _ := f.Strain(); e != nil {
		t.Fatal("strained with 30s left and a one-second strain threshold")
	}
	f.extend(time.Now().Add(time.Hour)) // a renewal
	select {
	case <-eased:
	default:
		t.Fatal("a renewal did not wake those waiting on the lag")
	}
	f.reset()
	f.extend(time.Now().Add(30 * time.Second))
	eased, _ = f.Lagging()
	f.setLeader(false)
	select {
	case <-eased:
	default:
		t.Fatal("losing leadership did not wake those waiting on the lag")
	}
	if e, _ := f.Lagging(); e != nil {
		t.Fatal("a follower's fence lags")
	}
	f.setLeader(true)
	f.reset()
	f.extend(time.Now().Add(-time.Second))
	if e, _ := f.Lagging(); e != nil {
		t.Fatal("an expired fence lags (new connections must be refused as fenced, not wait)")
	}
	if e, _ := newFence(0).Lagging(); e != nil {
		t.Fatal("a fence without a lag threshold lags")
	}
}
