package broker

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxAuthSources caps the sources an authLimiter tracks. At about 200
// bytes an entry the table stays near 20 MB however many addresses an
// attacker uses; beyond the cap the least recently changed entry is
// forgotten.
const maxAuthSources = 100_000

// authLimiter counts failed authentications per source (see sourceKey)
// and blocks a source that fails too often: after maxFailures failures
// within window, counted from the first, the source is blocked for block;
// then its count starts again from zero. Connections refused while
// blocked are not counted and do not extend the block, so a client that
// keeps retrying still gets in once the block ends. A success changes
// nothing: it neither resets its own source's count (an attacker with
// one valid account could otherwise keep guessing another's password)
// nor anyone else's.
//
// It is pure bookkeeping: the caller passes the time, so tests need no
// clock. It is safe for concurrent use. A check and the failure it leads
// to are separate calls, so a source sending many CONNECTs at once can
// get a few more attempts checked than maxFailures (about one per CPU).
type authLimiter struct {
	maxFailures int
	window      time.Duration
	block       time.Duration
	capacity    int

	mu      sync.Mutex
	entries map[string]*list.Element // values are *authSource
	order   list.List                // least recently changed first
}

// authSource is one source's record.
type authSource struct {
	key      string
	first    time.Time // first failure of the current window
	failures int       // failures since first
	until    time.Time // blocked before this instant; zero: not blocked
}

func newAuthLimiter(maxFailures int, window, block time.Duration, capacity int) *authLimiter {
	return &authLimiter{maxFailures: maxFailures, window: window, block: block,
		capacity: capacity, entries: map[string]*list.Element{}}
}

// expired reports whether s no longer matters at now: its block has
// ended, or (never blocked) its window has passed.
func (l *authLimiter) expired(s *authSource, now time.Time) bool {
	if !s.until.IsZero() {
		return !now.Before(s.until)
	}
	return now.Sub(s.first) >= l.window
}

// blocked reports whether key is blocked at now, and until when.
func (l *authLimiter) blocked(key string, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.lookup(key, now)
	if s == nil || s.until.IsZero() {
		return false, time.Time{}
	}
	return true, s.until
}

// fail records a failed authentication of key at now. It returns true
// when this failure blocks the source (once per block), and the
// failures counted in the window.
func (l *authLimiter) fail(key string, now time.Time) (blocks bool, failures int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	s := l.lookup(key, now)
	switch {
	case s == nil:
		if len(l.entries) >= l.capacity {
			l.remove(l.order.Front())
		}
		s = &authSource{key: key, first: now}
		l.entries[key] = l.order.PushBack(s)
	case !s.until.IsZero():
		// Checked before the block began (a concurrent attempt): the
		// block stands as it is.
		return false, s.failures
	default:
		l.order.MoveToBack(l.entries[key])
	}
	s.failures++
	if s.failures >= l.maxFailures {
		s.until = now.Add(l.block)
		return true, s.failures
	}
	return false, s.failures
}

// lookup returns key's record, or nil if there is none that still
// matters at now (an expired one is removed). l.mu is held.
func (l *authLimiter) lookup(key string, now time.Time) *authSource {
	e, ok := l.entries[key]
	if !ok {
		return nil
	}
	s := e.Value.(*authSource)
	if l.expired(s, now) {
		l.remove(e)
		return nil
	}
	return s
}

// prune removes the expired records at the front of the order, the
// least recently changed. Records behind a live one wait for a later
// call or for sweep. l.mu is held.
func (l *authLimiter) prune(now time.Time) {
	for e := l.order.Front(); e != nil && l.expired(e.Value.(*authSource), now); e = l.order.Front() {
		l.remove(e)
	}
}

func (l *authLimiter) remove(e *list.Element) {
	delete(l.entries, e.Value.(*authSource).key)
	l.order.Remove(e)
}

// sweep removes every expired record and returns how many sources are
// blocked at now.
func (l *authLimiter) sweep(now time.Time) (blocked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for e := l.order.Front(); e != nil; {
		next := e.Next()
		s := e.Value.(*authSource)
		switch {
		case l.expired(s, now):
			l.remove(e)
		case !s.until.IsZero():
			blocked++
		}
		e = next
	}
	return blocked
}

// size is the number of records held.
func (l *authLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// sourceKey is the key a client's remote address is limited by: the IP
// address for IPv4 (an IPv4-mapped IPv6 address counts as IPv4), its /64
// for IPv6, since one host usually holds a whole /64. A remote that is
// not an IP address is its own key.
func sourceKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return remote
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return addr.String() // not reached: an IPv6 address has 128 bits
	}
	return p.String()
}
