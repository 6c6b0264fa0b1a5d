package election

import (
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
type Fence struct {
	base   time.Time
	until  atomic.Int64 // lease alive until base+until (ns), minus the margin
	leader atomic.Bool
}

func newFence() *Fence { return &Fence{base: time.Now()} }

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

// extend moves the deadline to t, never backwards.
func (f *Fence) extend(t time.Time) {
	d := int64(t.Sub(f.base))
	for {
		cur := f.until.Load()
		if d <= cur || f.until.CompareAndSwap(cur, d) {
			return
		}
	}
}

// leaseValid reports whether the lease is alive by the local deadline,
// whatever the role.
func (f *Fence) leaseValid() bool {
	return time.Since(f.base) < time.Duration(f.until.Load())
}

func (f *Fence) reset()           { f.until.Store(0) }
func (f *Fence) setLeader(v bool) { f.leader.Store(v) }
