package broker

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProxyRefusalsCountedWarnedRarely: every refused connection is
// counted by reason (triad_proxy_refused_total), but a burst of them from
// a misconfigured load balancer or a scanner logs one warning, not one a
// connection.
func TestProxyRefusalsCountedWarnedRarely(t *testing.T) {
	l, _, logs := proxyListener(t, "127.0.0.2/32", "", "")
	var mu sync.Mutex
	counts := map[string]int{}
	l.refused = func(reason string) { mu.Lock(); counts[reason]++; mu.Unlock() }
	refused := func(payload string) {
		t.Helper()
		c, err := net.Dial("tcp", l.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, payload); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %d bytes, %v: want the connection closed", n, err)
		}
	}
	const burst = 5
	for range burst {
		refused("PROXY TCP4 192.0.2.7 10.0.0.1 40001 1883\r\nhello\n")
	}
	// A connection closed before any byte: counted, logged at debug.
	c, err := net.Dial("tcp", l.Address())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusals counted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return counts["untrusted"] == burst && counts["no_header"] == 1
	})
	if n := strings.Count(logs.String(), "connection refused:"); n != 1 {
		t.Fatalf("%d refusal warnings for %d refusals within %v, want 1:\n%s", n, burst, refusalWarnEvery, logs.String())
	}
}

// TestWarnEvery: one warning per period, covering the occurrences since
// the last one.
func TestWarnEvery(t *testing.T) {
	w := warnEvery{period: time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		n    int
		warn bool
	}{{0, 1, true}, {100 * time.Millisecond, 0, false}, {900 * time.Millisecond, 0, false},
		{time.Second, 3, true}, {1500 * time.Millisecond, 0, false}, {5 * time.Second, 2, true}}
	for _, s := range steps {
		n, warn := w.due(t0.Add(s.at))
		if n != s.n || warn != s.warn {
			t.Fatalf("at %v: due = %d, %v; want %d, %v", s.at, n, warn, s.n, s.warn)
		}
	}
}
