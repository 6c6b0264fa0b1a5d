package sync

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// timedLocal is a fakeLocal that appended entry i at base + i ms.
type timedLocal struct {
	*fakeLocal
	base time.Time
}

func (l timedLocal) AppendedAt(idx uint64) time.Time {
	return l.base.Add(time.Duration(idx) * time.Millisecond)
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(t)
	return c
}
func (c *fakeClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }

// scrape returns the Prometheus text exposition of collectors, gathered
// by a pedantic registry (it checks every metric against its description).
func scrape(t *testing.T, cs ...prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// wantLines fails for each line of want missing from the exposition text.
func wantLines(t *testing.T, text string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for l := range strings.Lines(text) {
		have[strings.TrimSuffix(l, "\n")] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("no line %q in:\n%s", w, text)
		}
	}
}

func TestQuorumFollowerLag(t *testing.T) {
	base := time.Unix(1700000000, 0)
	local := timedLocal{newFakeLocal(), base}
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	clock := newFakeClock(base.Add(time.Second))
	q.now = clock.now
	m := &InSyncManager{Quorum: q, Timeout: time.Hour, Log: slog.New(slog.DiscardHandler),
		Publish: func([]string) error { return nil }}

	local.set(10) // entries 1..10, appended at base+1ms..base+10ms
	q.Add("behind")
	q.Add("carried") // in sync from the last term, not streaming now
	q.Add("caught-up")
	q.Ack("behind", 4)
	q.Ack("carried", 2)
	q.Ack("caught-up", 10)
	q.Ack("ahead", 12) // wrote beyond the leader's own disk
	q.Ack("gone", 9)   // not in sync, no stream
	m.Step([]string{"ahead", "behind", "caught-up", "new"}, clock.now())

	got := map[string]FollowerLag{}
	var names []string
	for _, f := range q.Followers() {
		got[f.Name] = f
		names = append(names, f.Name)
	}
	if want := "ahead behind carried caught-up gone new"; strings.Join(names, " ") != want {
		t.Fatalf("followers %v, want %s", names, want)
	}
	for _, tc := range []struct {
		name string
		want FollowerLag
	}{
		{"behind", FollowerLag{Acked: 4, Lag: 6, InSync: true, Connected: true, LagSeconds: (995 * time.Millisecond).Seconds()}},
		{"carried", FollowerLag{Acked: 2, Lag: 8, InSync: true, LagSeconds: (997 * time.Millisecond).Seconds()}},
		{"caught-up", FollowerLag{Acked: 10, InSync: true, Connected: true}},
		{"ahead", FollowerLag{Acked: 12, InSync: true, Connected: true}}, // caught up: Step added it
		{"new", FollowerLag{Acked: 0, Lag: 10, Connected: true, LagSeconds: (999 * time.Millisecond).Seconds()}},
		{"gone", FollowerLag{Acked: 9, Lag: 1, LagSeconds: (990 * time.Millisecond).Seconds()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Name = tc.name
			if got[tc.name] != tc.want {
				t.Errorf("got %+v, want %+v", got[tc.name], tc.want)
			}
		})
	}
	t.Run("lag seconds of the in-sync set", func(t *testing.T) {
		if got, want := q.LagSeconds(), (997 * time.Millisecond).Seconds(); got != want {
			t.Errorf("LagSeconds %v, want %v (carried's; new lags more but is not in sync)", got, want)
		}
	})
	t.Run("time passes", func(t *testing.T) {
		clock.add(2 * time.Second)
		if got, want := q.LagSeconds(), (2997 * time.Millisecond).Seconds(); got != want {
			t.Errorf("LagSeconds %v, want %v", got, want)
		}
	})
	t.Run("a disconnected follower", func(t *testing.T) {
		m.Step([]string{"caught-up"}, clock.now())
		for _, f := range q.Followers() {
			if f.Connected != (f.Name == "caught-up") {
				t.Errorf("%s connected %v after its stream closed", f.Name, f.Connected)
			}
		}
	})
}

func TestQuorumWithoutAppendTimes(t *testing.T) {
	local := newFakeLocal()
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	q.Add("a")
	local.set(5)
	q.Ack("a", 2)
	f := q.Followers()
	if len(f) != 1 || f[0].Lag != 3 || f[0].LagSeconds != 0 {
		t.Fatalf("followers %+v, want a lagging 3 entries and 0 s (unknown)", f)
	}
	wantLines(t, scrape(t, NewLeaderCollector(func() *Quorum { return q })), "triad_replication_commit_seconds_count 0")
}

// The commit histogram gets one sample per advance of the quorum's
// durable index: the age of the oldest entry that just became durable.
func TestQuorumCommitSeconds(t *testing.T) {
	base := time.Unix(1700000000, 0)
	local := timedLocal{newFakeLocal(), base}
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	clock := newFakeClock(base.Add(50 * time.Millisecond))
	q.now = clock.now
	q.Add("a")
	ch := q.Changed()
	local.set(10) // durable on the leader, not on the quorum: no sample
	<-ch
	clock.set(base.Add(63500 * time.Microsecond))
	q.Ack("a", 4) // 1..4 durable: entry 1 waited 62.5 ms
	clock.set(base.Add(98750 * time.Microsecond))
	q.Ack("a", 10) // 5..10: entry 5 waited 93.75 ms
	q.Ack("a", 10) // no advance, no sample
	text := scrape(t, NewLeaderCollector(func() *Quorum { return q }))
	wantLines(t, text,
		`triad_replication_commit_seconds_bucket{le="0.0512"} 0`,
		`triad_replication_commit_seconds_bucket{le="0.1024"} 2`,
		`triad_replication_commit_seconds_bucket{le="+Inf"} 2`,
		"triad_replication_commit_seconds_sum 0.15625",
		"triad_replication_commit_seconds_count 2",
	)
}

func TestLeaderCollector(t *testing.T) {
	base := time.Unix(1700000000, 0)
	local := timedLocal{newFakeLocal(), base}
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	q.now = newFakeClock(base.Add(1504 * time.Millisecond)).now // entry 4 is 1.5 s old
	m := &InSyncManager{Quorum: q, Timeout: time.Hour, Log: slog.New(slog.DiscardHandler),
		Publish: func([]string) error { return nil }}
	local.set(8)
	q.Ack("n2", 8)
	q.Ack("n3", 3)
	m.Step([]string{"n2", "n3"}, base) // n2 caught up: joins
	var leading atomic.Bool
	c := NewLeaderCollector(func() *Quorum {
		if leading.Load() {
			return q
		}
		return nil
	})
	if text := scrape(t, c); strings.Contains(text, "triad_replication") {
		t.Fatalf("a node that does not lead exports leader metrics:\n%s", text)
	}
	leading.Store(true)
	wantLines(t, scrape(t, c),
		`triad_replication_follower_lag_entries{follower="n2"} 0`,
		`triad_replication_follower_lag_entries{follower="n3"} 5`,
		`triad_replication_follower_lag_seconds{follower="n2"} 0`,
		`triad_replication_follower_lag_seconds{follower="n3"} 1.5`,
		`triad_replication_follower_in_sync{follower="n2"} 1`,
		`triad_replication_follower_in_sync{follower="n3"} 0`,
		`triad_replication_follower_connected{follower="n2"} 1`,
		`triad_replication_follower_connected{follower="n3"} 1`,
	)
}

func TestCommitterAppendedAt(t *testing.T) {
	base := time.Unix(1700000000, 0)
	// open a committer whose append clock the test moves; every Append
	// happens at the clock's time.
	open := func(t *testing.T, store *state.Store) (*state.Committer, *fakeClock) {
		clock := newFakeClock(base)
		c := state.NewCommitter(store, state.CommitterOptions{AppendClock: clock.now})
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("close committer: %v", err)
			}
		})
		return c, clock
	}
	// appendAt appends n empty entries, step apart from the clock's time
	// on, and returns each one's true append time by index.
	appendAt := func(t *testing.T, c *state.Committer, clock *fakeClock, n int, step time.Duration) map[uint64]time.Time {
		at := map[uint64]time.Time{}
		for range n {
			clock.add(step)
			idx, err := c.Append()
			if err != nil {
				t.Fatal(err)
			}
			at[idx] = clock.now()
		}
		return at
	}

	t.Run("recent entries exactly, older within the coarse gap", func(t *testing.T) {
		c, clock := open(t, openStore(t, t.TempDir()))
		at := appendAt(t, c, clock, 3000, time.Millisecond)
		for idx, want := range at {
			got := c.AppendedAt(idx)
			switch {
			case idx > 3000-2000 && !got.Equal(want):
				t.Fatalf("entry %d: %v, want exactly %v", idx, got, want)
			case got.After(want) || want.Sub(got) >= 10*time.Millisecond:
				t.Fatalf("entry %d: %v, want within 10 ms before %v", idx, got, want)
			}
		}
	})
	t.Run("entries closer than the fine gap share a sample", func(t *testing.T) {
		c, clock := open(t, openStore(t, t.TempDir()))
		at := appendAt(t, c, clock, 100, 10*time.Microsecond)
		for idx, want := range at {
			if got := c.AppendedAt(idx); got.After(want) || want.Sub(got) >= 50*time.Microsecond {
				t.Fatalf("entry %d: %v, want within 50 µs before %v", idx, got, want)
			}
		}
		if c.AppendedAt(3) != at[1] {
			t.Errorf("entry 3 (20 µs after entry 1): %v, want entry 1's sample %v", c.AppendedAt(3), at[1])
		}
	})
	t.Run("older than every sample: a lower bound of the age", func(t *testing.T) {
		c, clock := open(t, openStore(t, t.TempDir()))
		at := appendAt(t, c, clock, 9000, 10*time.Millisecond)
		got := c.AppendedAt(1)
		if got.Before(at[1]) {
			t.Fatalf("entry 1: %v, before its append at %v: an age computed from it would be too high", got, at[1])
		}
		if oldest := at[9000-8192+1]; !got.Equal(oldest) {
			t.Errorf("entry 1: %v, want the oldest sample kept, %v", got, oldest)
		}
	})
	t.Run("entries from before the committer", func(t *testing.T) {
		store := openStore(t, t.TempDir())
		first := state.NewCommitter(store, state.CommitterOptions{})
		last := mustAppendN(t, first, 5)
		if err := first.Wait(t.Context(), last); err != nil {
			t.Fatal(err)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		c, clock := open(t, store)
		appendAt(t, c, clock, 3, time.Second)
		if got := c.AppendedAt(3); !got.Equal(base) {
			t.Errorf("entry 3 of an earlier committer: %v, want this committer's start %v", got, base)
		}
	})
}

func mustAppendN(t *testing.T, c *state.Committer, n int) uint64 {
	t.Helper()
	var last uint64
	for range n {
		idx, err := c.Append()
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	return last
}

// TestReplicationMetrics wires the parts as a replicating node does — a
// committer feeding the log at append time, a Quorum over the committer,
// the Leader reporting acks to it, an InSyncManager — and checks what the
// metrics say while a follower streams and after it stops.
func TestReplicationMetrics(t *testing.T) {
	const epoch = 5
	store := openStore(t, t.TempDir())
	log := NewLog(store.Applied(), store.AppliedEpoch(), 1000, 64<<20)
	c := state.NewCommitter(store, state.CommitterOptions{OnAppend: log.Add})
	c.SetEpoch(epoch)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close committer: %v", err)
		}
	})
	lg := slog.New(slog.DiscardHandler)
	q := NewQuorum(c, false, lg)
	t.Cleanup(q.Close)
	leader := NewLeader("c", epoch, store, log, lg, q.Ack)
	m := &InSyncManager{Quorum: q, Timeout: time.Hour, Log: lg, Publish: func([]string) error { return nil }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterReplicationServer(srv, leader)
	go func() { _ = srv.Serve(ln) }() // ends with Stop
	t.Cleanup(srv.Stop)

	fm := NewFollowerMetrics()
	f := followWith(t, openStore(t, t.TempDir()), ln.Addr().String(), fm)
	appendN := func(n int) uint64 {
		t.Helper()
		var last uint64
		for i := range n {
			idx, err := c.Append(state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: fmt.Sprintf("r/%d", i), Retain: true}})
			if err != nil {
				t.Fatal(err)
			}
			last = idx
		}
		if err := c.Wait(t.Context(), last); err != nil {
			t.Fatal(err)
		}
		return last
	}
	last := appendN(40)
	waitApplied(t, f, last)
	waitFor(t, "the follower in sync", func() bool {
		m.Step(leader.Connected(), time.Now())
		fl := q.Followers()
		return len(fl) == 1 && fl[0].InSync && fl[0].Connected && fl[0].Acked == last
	})
	last = appendN(10) // acknowledged through the quorum now
	waitFor(t, "the follower's ack", func() bool { return q.Durable() == last })

	text := scrape(t, NewLeaderCollector(func() *Quorum { return q }), fm)
	wantLines(t, text,
		`triad_replication_follower_lag_entries{follower="f1"} 0`,
		`triad_replication_follower_lag_seconds{follower="f1"} 0`,
		`triad_replication_follower_in_sync{follower="f1"} 1`,
		`triad_replication_follower_connected{follower="f1"} 1`,
		"triad_replication_follower_apply_batch_entries_sum 50", // every entry, each in one transaction
	)
	if count := metricValue(t, text, "triad_replication_commit_seconds_count"); count < 1 {
		t.Errorf("commit latency samples %v, want at least one", count)
	}

	f.cancel()
	<-f.done
	f.done <- nil // for the cleanup
	waitFor(t, "the stream to close", func() bool { return len(leader.Connected()) == 0 })
	stopped := time.Now()
	last = appendN(3)
	m.Step(leader.Connected(), time.Now())
	fl := q.Followers()[0]
	if fl.Connected || fl.Lag != 3 || fl.LagSeconds <= 0 || fl.LagSeconds > time.Since(stopped).Seconds() {
		t.Errorf("stopped follower: %+v, want disconnected, 3 entries and at most %v s behind", fl, time.Since(stopped).Seconds())
	}
	if !fl.InSync || q.LagSeconds() < fl.LagSeconds {
		t.Errorf("LagSeconds %v, below the in-sync follower's %v", q.LagSeconds(), fl.LagSeconds)
	}
}

// followWith runs a Follower with metrics.
func followWith(t *testing.T, store *state.Store, addr string, fm *FollowerMetrics) *testFollower {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	tf := &testFollower{store: store, done: make(chan error, 1), cancel: cancel}
	f := &Follower{Cluster: "c", Node: "f1", Store: store, Log: slog.New(slog.DiscardHandler), Metrics: fm,
		OnApplied: func(a uint64) { tf.applied.Store(a) }}
	go func() { tf.done <- f.Run(ctx, pb.NewReplicationClient(conn)) }()
	t.Cleanup(func() { cancel(); <-tf.done })
	return tf
}

// metricValue is the value of the sample line named exactly name.
func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for l := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in:\n%s", name, text)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true after 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
