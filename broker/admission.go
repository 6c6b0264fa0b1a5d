package broker

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Connection admission (mqtt.admission).
//
// A failover sends every client of the old leader to the new one within a
// second or two. Each CONNECT costs CPU (a session takeover, records,
// allocations), and a few thousand handled at once are thousands of
// runnable goroutines. Go's scheduler has no priorities: every wake-up of
// the goroutines that renew the lease (the elector, the etcd client, the
// embedded etcd member) then waits behind all of them. Measured with 5,000
// clients reconnecting on two cores: scheduling delay p99 0.27–0.47 s, lease
// renewals of 0.3–0.6 s and more (a renewal is several such wake-ups), the
// fence ran out and the new leader stepped down, and the clients stormed
// the next one.
//
// So the broker works on at most max_concurrent_connects connections at a
// time, from the moment their first bytes arrive until their CONNACK is
// written (after the records of the session are durable: gate.go), and
// optionally paces admissions to max_connect_rate per second. The rest
// wait, parked: a parked goroutine costs memory, not CPU. Holding the slot
// until the CONNACK is out, not just until mochi hands it over, also
// bounds what one group commit releases at once: every CONNACK it makes
// durable wakes its connection, and the client answers with a SUBSCRIBE
// (seen without it: 600 connections made runnable by one commit, then 540
// SUBSCRIBEs read at once). A connection waits for its first bytes before
// taking a slot, so a client that connects and sends nothing holds none;
// and a slot is given back after admitHold in any case, so a client that
// trickles its CONNECT cannot hold one for long.

// admitHold bounds how long one connection holds a slot: far more than a
// CONNECT and the commit of its records take even on a saturated node,
// far less than a client's connect timeout.
const admitHold = 2 * time.Second

// errListenerClosed ends a connection that was waiting for admission when
// its listener closed.
var errListenerClosed = errors.New("broker: listener closed")

// admission is the broker's bound on CONNECTs in progress, shared by its
// listeners. A nil *admission admits everything at once.
type admission struct {
	slots  chan struct{} // nil: no bound
	bucket *tokenBucket  // nil: no rate limit
	hold   time.Duration

	waited   atomic.Uint64 // connections that had to wait
	timedOut atomic.Uint64 // slots given back by the hold timer
}

// newAdmission returns the admission of at most concurrent CONNECTs in
// progress (0: no bound) and rate admissions per second (0: no limit), or
// nil when both are off.
func newAdmission(concurrent, rate int) *admission {
	if concurrent <= 0 && rate <= 0 {
		return nil
	}
	a := &admission{hold: admitHold}
	if concurrent > 0 {
		a.slots = make(chan struct{}, concurrent)
	}
	if rate > 0 {
		a.bucket = newTokenBucket(float64(rate), connectBurst(rate))
	}
	return a
}

// connectBurst is the burst of a connect rate: a tenth of a second's worth
// (at least one), so that a storm is paced from its first tenth of a second.
func connectBurst(rate int) float64 { return float64(max(1, rate/10)) }

// admit waits until the connection may be worked on, or until done is
// closed (errListenerClosed). The ticket must be released once the
// CONNACK is written or the connection ends (release is idempotent, and a
// nil ticket is valid).
func (a *admission) admit(done <-chan struct{}) (*admitTicket, error) {
	if a == nil {
		return nil, nil
	}
	waited := false
	if a.bucket != nil {
		if d := a.bucket.reserve(time.Now()); d > 0 {
			waited = true
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				return nil, errListenerClosed
			}
		}
	}
	if a.slots != nil {
		select {
		case a.slots <- struct{}{}:
		default:
			waited = true
			select {
			case a.slots <- struct{}{}:
			case <-done:
				return nil, errListenerClosed
			}
		}
	}
	if waited {
		a.waited.Add(1)
	}
	t := &admitTicket{a: a}
	if a.slots != nil {
		t.timer = time.AfterFunc(a.hold, func() { t.give(true) })
	}
	return t, nil
}

// inProgress is the number of slots taken.
func (a *admission) inProgress() int {
	if a == nil || a.slots == nil {
		return 0
	}
	return len(a.slots)
}

// admitTicket is one admitted connection's slot.
type admitTicket struct {
	a     *admission
	timer *time.Timer // nil without a slot
	done  atomic.Bool
}

// release gives the slot back (once; a nil ticket has none).
func (t *admitTicket) release() {
	if t != nil && t.give(false) && t.timer != nil {
		t.timer.Stop()
	}
}

// give frees the slot if it was not freed yet, and says whether it did;
// timedOut counts it as given back by the hold timer (before the slot is
// free, so that whoever takes it sees the count).
func (t *admitTicket) give(timedOut bool) bool {
	if !t.done.CompareAndSwap(false, true) {
		return false
	}
	if timedOut {
		t.a.timedOut.Add(1)
	}
	if t.a.slots != nil {
		<-t.a.slots
	}
	return true
}

// tokenBucket paces events to rate per second with bursts of up to burst.
// Its clock is the caller's, so it is a pure function of the times it is
// given.
type tokenBucket struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64 // may go negative: events reserved ahead
	last   time.Time
}

func newTokenBucket(rate, burst float64) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst}
}

// reserve takes a token for one event at now and returns how long the
// event must wait for it (0: at once). Reservations queue: each caller
// waits its own delay, so events are spaced 1/rate apart once the burst is
// spent, in the order they reserved.
func (b *tokenBucket) reserve(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
