package broker

import (
	"fmt"
	"testing"
	"time"
)

// authStep is one event of a limiter scenario, at t0+at.
type authStep struct {
	at      time.Duration
	key     string
	fail    bool // record a failure (else: only check)
	blocks  bool // fail: this failure must start a block
	blocked bool // the key must be blocked after the step
}

func TestAuthLimiter(t *testing.T) {
	const (
		window = time.Minute
		block  = 30 * time.Second
	)
	a, b := "192.0.2.1", "192.0.2.2"
	fail := func(at time.Duration, key string, blocked bool) authStep {
		return authStep{at: at, key: key, fail: true, blocked: blocked}
	}
	blocks := func(at time.Duration, key string) authStep {
		return authStep{at: at, key: key, fail: true, blocks: true, blocked: true}
	}
	check := func(at time.Duration, key string, blocked bool) authStep {
		return authStep{at: at, key: key, blocked: blocked}
	}
	tests := []struct {
		name  string
		steps []authStep
	}{
		{name: "three failures within the window block", steps: []authStep{
			fail(0, a, false), fail(time.Second, a, false), blocks(2*time.Second, a),
			check(2*time.Second+block-time.Nanosecond, a, true),
		}},
		{name: "the block lifts after block, counted from the blocking failure", steps: []authStep{
			fail(0, a, false), fail(0, a, false), blocks(10*time.Second, a),
			check(10*time.Second+block, a, false),
		}},
		{name: "after a block the count starts again", steps: []authStep{
			fail(0, a, false), fail(0, a, false), blocks(0, a),
			fail(block, a, false), fail(block, a, false), blocks(block, a),
		}},
		{name: "failures older than the window are forgotten", steps: []authStep{
			fail(0, a, false), fail(time.Second, a, false),
			fail(window, a, false), // the window that began at 0 has passed
			fail(window+time.Second, a, false), blocks(window+2*time.Second, a),
		}},
		{name: "attempts while blocked neither count nor extend the block", steps: []authStep{
			fail(0, a, false), fail(0, a, false), blocks(0, a),
			check(block/2, a, true),
			fail(block/2, a, true), // a concurrent attempt checked before the block
			check(block, a, false),
		}},
		{name: "sources are counted apart", steps: []authStep{
			fail(0, a, false), fail(0, a, false), fail(0, b, false), blocks(0, a),
			check(0, b, false), fail(0, b, false), blocks(0, b),
		}},
		{name: "an unknown source is not blocked", steps: []authStep{
			check(0, a, false),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newAuthLimiter(3, window, block, 100)
			t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.fail {
					if got, _ := l.fail(s.key, now); got != s.blocks {
						t.Fatalf("step %d: fail(%s) at %v blocks = %v, want %v", i, s.key, s.at, got, s.blocks)
					}
				}
				got, until := l.blocked(s.key, now)
				if got != s.blocked {
					t.Fatalf("step %d: blocked(%s) at %v = %v, want %v", i, s.key, s.at, got, s.blocked)
				}
				if got && !until.After(now) {
					t.Fatalf("step %d: blocked until %v, not after %v", i, until, now)
				}
			}
		})
	}
}

func TestAuthLimiterMemoryIsBounded(t *testing.T) {
	const capacity = 100
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("the least recently changed source is evicted at the cap", func(t *testing.T) {
		l := newAuthLimiter(2, time.Minute, time.Minute, capacity)
		l.fail("first", t0)
		for i := range 10 * capacity {
			l.fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0.Add(time.Millisecond))
			if n := l.size(); n > capacity {
				t.Fatalf("%d records after %d sources, cap %d", n, i+2, capacity)
			}
		}
		if blocks, n := l.fail("first", t0.Add(time.Second)); blocks || n != 1 {
			t.Fatalf("evicted source: fail blocks %v after %d failures, want a fresh count of 1", blocks, n)
		}
	})
	t.Run("expired records are pruned", func(t *testing.T) {
		l := newAuthLimiter(2, time.Minute, time.Minute, capacity)
		for i := range capacity / 2 {
			l.fail(fmt.Sprintf("10.0.0.%d", i), t0)
		}
		l.fail("late", t0.Add(time.Minute))
		if n := l.size(); n != 1 {
			t.Fatalf("%d records after the window passed, want 1 (the new one)", n)
		}
	})
	t.Run("sweep counts blocked sources and drops the expired", func(t *testing.T) {
		l := newAuthLimiter(1, time.Minute, 10*time.Second, capacity)
		l.fail("a", t0)                    // blocked until t0+10s
		l.fail("b", t0.Add(5*time.Second)) // until t0+15s
		if n := l.sweep(t0.Add(9 * time.Second)); n != 2 {
			t.Fatalf("sweep at 9s: %d blocked, want 2", n)
		}
		if n := l.sweep(t0.Add(12 * time.Second)); n != 1 || l.size() != 1 {
			t.Fatalf("sweep at 12s: %d blocked, %d records, want 1 and 1", n, l.size())
		}
		if n := l.sweep(t0.Add(15 * time.Second)); n != 0 || l.size() != 0 {
			t.Fatalf("sweep at 15s: %d blocked, %d records, want 0 and 0", n, l.size())
		}
	})
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"127.0.0.1:51000", "127.0.0.1"},
		{"192.0.2.7:1", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1883", "192.0.2.7"}, // IPv4-mapped: the IPv4 address
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:40000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::1]:40001", "2001:db8:1:2::/64"}, // same /64, same key
		{"[fe80::1%eth0]:1883", "fe80::/64"},
		{"[::1]:1883", "::/64"},
		{"pipe", "pipe"}, // not an IP address: as it is
	} {
		t.Run(tc.remote, func(t *testing.T) {
			if got := sourceKey(tc.remote); got != tc.want {
				t.Fatalf("sourceKey(%q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}
