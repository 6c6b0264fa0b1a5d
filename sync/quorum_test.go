package sync

import (
	"errors"
	"log/slog"
	"slices"
	gosync "sync"
	"testing"
	"time"
)

// fakeLocal is a committer whose durable index the test sets.
type fakeLocal struct {
	mu      gosync.Mutex
	durable uint64
	changed chan struct{}
	failed  chan struct{}
}

func newFakeLocal() *fakeLocal {
	return &fakeLocal{changed: make(chan struct{}), failed: make(chan struct{})}
}
func (f *fakeLocal) Enqueued() uint64 { return f.Durable() }
func (f *fakeLocal) Durable() uint64  { f.mu.Lock(); defer f.mu.Unlock(); return f.durable }
func (f *fakeLocal) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}
func (f *fakeLocal) Failed() <-chan struct{} { return f.failed }
func (f *fakeLocal) Err() error              { return nil }
func (f *fakeLocal) set(d uint64) {
	f.mu.Lock()
	f.durable = d
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func TestQuorumWaitsForEveryInSyncFollower(t *testing.T) {
	local := newFakeLocal()
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	local.set(10)
	if q.Durable() != 10 {
		t.Fatalf("no follower in sync, continue: durable %d, want the leader's 10", q.Durable())
	}
	q.Add("a")
	q.Add("b")
	if q.Durable() != 0 {
		t.Fatalf("followers acked nothing: durable %d, want 0", q.Durable())
	}
	ch := q.Changed()
	q.Ack("a", 10)
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("an ack did not signal a change")
	}
	if q.Durable() != 0 {
		t.Fatalf("b acked nothing: durable %d, want 0", q.Durable())
	}
	q.Ack("b", 7)
	if q.Durable() != 7 {
		t.Fatalf("durable %d, want 7 (the slowest in-sync follower)", q.Durable())
	}
	q.Remove("b")
	if q.Durable() != 10 {
		t.Fatalf("after b left: durable %d, want 10", q.Durable())
	}
	ch = q.Changed()
	local.set(12)
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("local progress did not signal a change")
	}
	if q.Durable() != 10 {
		t.Fatalf("a acked 10 of 12: durable %d, want 10", q.Durable())
	}
}

func TestQuorumBlockHoldsWithoutFollowers(t *testing.T) {
	local := newFakeLocal()
	q := NewQuorum(local, true, slog.New(slog.DiscardHandler))
	defer q.Close()
	q.Add("a")
	q.Ack("a", 5)
	local.set(5)
	if q.Durable() != 5 {
		t.Fatalf("durable %d, want 5", q.Durable())
	}
	q.Remove("a")
	local.set(9)
	if q.Durable() != 5 {
		t.Fatalf("block with no follower: durable %d, want it held at 5", q.Durable())
	}
}

func TestInSyncManagerJoinAndDropOrder(t *testing.T) {
	local := newFakeLocal()
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	var published [][]string
	fail := false
	m := &InSyncManager{Quorum: q, Timeout: time.Second, Log: slog.New(slog.DiscardHandler),
		Publish: func(members []string) error {
			if fail {
				return errors.New("etcd unavailable")
			}
			published = append(published, members)
			return nil
		}}
	t0 := time.Unix(1000, 0)
	local.set(10)
	q.Ack("a", 9)
	if m.Step([]string{"a"}, t0) || len(q.InSync()) != 0 {
		t.Fatal("a follower behind the leader joined the in-sync set")
	}
	q.Ack("a", 10)
	if !m.Step([]string{"a"}, t0) || !slices.Equal(q.InSync(), []string{"a"}) || !slices.Equal(published[0], []string{"a"}) {
		t.Fatalf("caught-up follower: in sync %v, published %v", q.InSync(), published)
	}
	local.set(20) // a owes 11..20 from now on
	m.Step([]string{"a"}, t0)
	fail = true
	if m.Step(nil, t0.Add(2*time.Second)) || !slices.Equal(q.InSync(), []string{"a"}) {
		t.Fatal("a silent follower was dropped although its removal could not be published")
	}
	if q.Durable() != 10 {
		t.Fatalf("durable %d while a still counts, want 10", q.Durable())
	}
	fail = false
	if !m.Step(nil, t0.Add(2*time.Second)) || len(q.InSync()) != 0 {
		t.Fatalf("silent follower not dropped: %v", q.InSync())
	}
	if last := published[len(published)-1]; len(last) != 0 {
		t.Fatalf("published %v, want the empty set", last)
	}
	if q.Durable() != 20 {
		t.Fatalf("durable %d after the drop (continue), want 20", q.Durable())
	}
}

// TestInSyncManagerDropsFollowerThatLostEntries: a follower that comes back
// with less than it had acknowledged (a wiped data directory) leaves the
// in-sync set at the next step, without waiting for the ack timeout — with
// no writes it would never owe an ack and could be elected empty — and
// joins again once it has caught up.
func TestInSyncManagerDropsFollowerThatLostEntries(t *testing.T) {
	local := newFakeLocal()
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	var published [][]string
	m := &InSyncManager{Quorum: q, Timeout: time.Hour, Log: slog.New(slog.DiscardHandler),
		Publish: func(members []string) error { published = append(published, members); return nil }}
	t0 := time.Unix(1000, 0)
	local.set(10)
	q.Ack("a", 10)
	q.Ack("b", 10)
	m.Step([]string{"a", "b"}, t0)
	if !slices.Equal(q.InSync(), []string{"a", "b"}) {
		t.Fatalf("in sync %v, want a and b", q.InSync())
	}
	q.Rejoined("b", 10) // reconnected with everything: nothing changes
	q.Rejoined("a", 0)  // wiped
	if q.Durable() != 0 {
		t.Errorf("durable %d while the wiped a is still in the set, want 0", q.Durable())
	}
	if !m.Step([]string{"a", "b"}, t0) || !slices.Equal(q.InSync(), []string{"b"}) {
		t.Fatalf("after a came back wiped: in sync %v, want b alone at once", q.InSync())
	}
	if last := published[len(published)-1]; !slices.Equal(last, []string{"b"}) {
		t.Fatalf("published %v, want [b]", last)
	}
	if q.Durable() != 10 {
		t.Errorf("durable %d without a, want 10", q.Durable())
	}
	q.Ack("a", 10) // caught up
	if !m.Step([]string{"a", "b"}, t0) || !slices.Equal(q.InSync(), []string{"a", "b"}) {
		t.Fatalf("after a caught up: in sync %v, want a and b", q.InSync())
	}
	if m.Step([]string{"a", "b"}, t0.Add(time.Minute)) {
		t.Fatal("the set changed again with nothing new")
	}
}

// TestInSyncManagerRefresh: an unchanged set is republished every Refresh
// (its indexes move on), never while there is nothing to publish.
func TestInSyncManagerRefresh(t *testing.T) {
	local := newFakeLocal()
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	var published int
	m := &InSyncManager{Quorum: q, Timeout: time.Hour, Refresh: 2 * time.Second, Log: slog.New(slog.DiscardHandler),
		Publish: func([]string) error { published++; return nil }}
	t0 := time.Unix(1000, 0)
	m.Step(nil, t0)
	m.Step(nil, t0.Add(5*time.Second))
	if published != 0 {
		t.Fatalf("%d publications of an empty, never published set", published)
	}
	local.set(10)
	q.Ack("a", 10)
	m.Step([]string{"a"}, t0) // joins: published
	m.Step([]string{"a"}, t0.Add(time.Second))
	if published != 1 {
		t.Fatalf("%d publications within the refresh interval, want 1", published)
	}
	m.Step([]string{"a"}, t0.Add(2*time.Second))
	if published != 2 {
		t.Fatalf("%d publications after the refresh interval, want 2", published)
	}
}

// TestQuorumAppliedFloors: the indexes an in-sync record carries are the
// ones of floorAge ago, so a node's published applied index, which lags
// its store a little, is never below them unless it lost entries.
func TestQuorumAppliedFloors(t *testing.T) {
	local := newFakeLocal()
	q := NewQuorum(local, false, slog.New(slog.DiscardHandler))
	defer q.Close()
	now := time.Unix(1000, 0)
	q.now = func() time.Time { return now }
	local.set(10)
	q.Ack("a", 9)
	if got := q.Applied("l", []string{"a"}); len(got) != 0 {
		t.Fatalf("floors %v before the leader has led floorAge, want none", got)
	}
	for i := 1; i <= 6; i++ { // a publication every 2s, indexes moving on
		now = now.Add(2 * time.Second)
		local.set(uint64(10 + 10*i))
		q.Ack("a", uint64(9+10*i))
		got := q.Applied("l", []string{"a"})
		if now.Sub(time.Unix(1000, 0)) < floorAge {
			if len(got) != 0 {
				t.Fatalf("at +%v: floors %v, want none yet", now.Sub(time.Unix(1000, 0)), got)
			}
			continue
		}
		// The newest sample at least floorAge old: taken at now-10s.
		want := map[string]uint64{"l": uint64(10 + 10*(i-5)), "a": uint64(9 + 10*(i-5))}
		if got["l"] != want["l"] || got["a"] != want["a"] {
			t.Fatalf("at +%v: floors %v, want %v", now.Sub(time.Unix(1000, 0)), got, want)
		}
	}
}
