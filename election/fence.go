package election

import (
	"sync"
	"sync/atomic"
	"time"
)

// Fence says whether this node may act as leader right now. It is valid
// only while the node leads AND its lease is certainly alive: until the
// local deadline, the send time of the last answered keepalive + the
// granted TTL − the fence margin. The broker checks it on every read from
// and write to a client, so a leader frozen (SIGSTOP, VM pause) past its
// deadline and then resumed does not read or acknowledge a single packet,
// whatever its goroutines do first.
//
// Times are kept on the monotonic clock, which keeps running while the
// process is stopped.
//
// A leader too busy to renew its lease in time (its CPU saturated by
// clients) would fence itself and hand the same load to a successor. So
// when less than the strain threshold is left, the fence is strained: the
// broker stops reading from clients (Strain) until the next renewal lands,
// which frees the CPU the renewal needs. A renewal that cannot land (etcd
// unreachable) ends in fencing as before, the reads paused for the last
// strain of the lease.
//
// Earlier still, when about two renewals in a row have gone unanswered,
// the fence is lagging (Lagging): the broker admits no new connection
// until a renewal lands, so that a reconnect storm does not take the CPU
// the renewals need while the clients already served carry on.
type Fence struct {
	base   time.Time
	strain time.Duration // strained when less than this is left; 0: never
	lag    time.Duration // lagging when less than this is left; 0: never
	until  atomic.Int64  // lease alive until base+until (ns), minus the margin
	leader atomic.Bool

	mu    sync.Mutex
	eased chan struct{} // closed at the next extension, reset or leadership change
}

func newFence(strain time.Duration) *Fence {
	return &Fence{base: time.Now(), strain: strain, eased: make(chan struct{})}
}

// Valid reports whether the node leads with a lease that cannot have
// expired.
func (f *Fence) Valid() bool {
	return f.leader.Load() && time.Since(f.base) < time.Duration(f.until.Load())
}

// Remaining is how long the fence stays valid without another keepalive
// (0 or less when it is not valid).
func (f *Fence) Remaining() time.Duration {
	if !f.leader.Load() {
		return 0
	}
	return time.Duration(f.until.Load()) - time.Since(f.base)
}

// Strain says whether the fence is strained: the node leads, its lease
// is valid, but less than the strain threshold is left. If so, eased is
// closed at the next renewal (or loss of leadership) and left is how long
// the fence stays valid without one; a strained reader waits for
// whichever comes first. eased is nil when the fence is not strained.
func (f *Fence) Strain() (eased <-chan struct{}, left time.Duration) {
	left = f.Remaining()
	if f.strain <= 0 || left <= 0 || left >= f.strain {
		return nil, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.eased, left
}

// Lagging says whether the lease renewals are late: the node leads, its
// lease is valid, but less than the lag threshold is left. If so, eased is
// closed at the next renewal (or loss of leadership) and left is how long
// the fence stays valid without one; eased is nil when not lagging.
func (f *Fence) Lagging() (eased <-chan struct{}, left time.Duration) {
	left = f.Remaining()
	if f.lag <= 0 || left <= 0 || left >= f.lag {
		return nil, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.eased, left
}

// lagThreshold is the fence's lag threshold for a lease of ttl and a fence
// margin: what is left once two renewals (one every ttl/6) in a row went
// unanswered, and never less than the strain threshold.
func lagThreshold(ttl, margin time.Duration) time.Duration {
	return max(ttl-margin-2*(ttl/6), ttl/strainFraction)
}

// ease wakes every strained reader.
func (f *Fence) ease() {
	f.mu.Lock()
	close(f.eased)
	f.eased = make(chan struct{})
	f.mu.Unlock()
}

// extend moves the deadline to t, never backwards.
func (f *Fence) extend(t time.Time) {
	d := int64(t.Sub(f.base))
	for {
		cur := f.until.Load()
		if d <= cur {
			return
		}
		if f.until.CompareAndSwap(cur, d) {
			f.ease()
			return
		}
	}
}

// leaseValid reports whether the lease is alive by the local deadline,
// whatever the role.
func (f *Fence) leaseValid() bool {
	return time.Since(f.base) < time.Duration(f.until.Load())
}

func (f *Fence) reset() { f.until.Store(0); f.ease() }

func (f *Fence) setLeader(v bool) { f.leader.Store(v); f.ease() }
