package state

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	waitClosed(t, what, done)
}

// checkContiguous checks that the indexes handed out are exactly from+1..
// from+len, and that each appender's own indexes increase.
func checkContiguous(t *testing.T, from uint64, perAppender [][]uint64) {
	t.Helper()
	var all []uint64
	for g, idxs := range perAppender {
		if !slices.IsSorted(idxs) {
			t.Errorf("appender %d got indexes out of order: %v", g, idxs)
		}
		all = append(all, idxs...)
	}
	slices.Sort(all)
	for i, idx := range all {
		if want := from + uint64(i) + 1; idx != want {
			t.Fatalf("sorted index %d is %d, want %d (duplicate or gap)", i, idx, want)
		}
	}
}

// TestCommitterGroupCommit holds the writer at its first wake-up while 16
// goroutines append 200 entries each and wait for them, so the whole load
// must go out in one commit.
func TestCommitterGroupCommit(t *testing.T) {
	const goroutines, perG = 16, 200
	const entries = goroutines * perG
	s, dir := newStore(t)
	var (
		log             commitLog
		c               *Committer
		durableAtCommit atomic.Uint64
	)
	c, g := startGated(t, s, CommitterOptions{OnCommit: func(st CommitStats) {
		log.record(st)
		durableAtCommit.Store(c.Durable())
	}})

	idxs := make([][]uint64, goroutines)
	var appended, waited sync.WaitGroup
	for gi := range goroutines {
		appended.Add(1)
		waited.Add(1)
		go func() {
			defer waited.Done()
			client := fmt.Sprintf("c%d", gi)
			for i := range perG {
				idx, err := c.Append(putSub(client, fmt.Sprintf("f/%d", i)))
				if err != nil {
					t.Errorf("append: %v", err)
					break
				}
				idxs[gi] = append(idxs[gi], idx)
			}
			appended.Done()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			for _, idx := range idxs[gi] {
				if err := c.Wait(ctx, idx); err != nil {
					t.Errorf("wait for %d: %v", idx, err)
					return
				}
			}
		}()
	}
	waitGroup(t, &appended, "appends")
	if got := c.Enqueued(); got != entries {
		t.Errorf("Enqueued = %d, want %d", got, entries)
	}
	if got := c.Durable(); got != 0 {
		t.Errorf("Durable = %d before the writer was released, want 0", got)
	}
	g.release()
	waitGroup(t, &waited, "waits")
	checkContiguous(t, 0, idxs)
	if err := c.Close(); err != nil {
		t.Fatalf("close committer: %v", err)
	}

	stats := log.all()
	if len(stats) != 1 {
		t.Fatalf("%d commits for %d entries, want one group commit: %+v", len(stats), entries, stats)
	}
	if stats[0].Entries != entries || stats[0].Ops != entries {
		t.Errorf("commit stats %+v, want %d entries and ops", stats[0], entries)
	}
	if got := durableAtCommit.Load(); got != entries {
		t.Errorf("Durable seen in OnCommit = %d, want %d (durable before OnCommit)", got, entries)
	}
	if got := c.Durable(); got != entries {
		t.Errorf("Durable = %d, want %d", got, entries)
	}

	closeStore(t, s)
	s = openStore(t, dir)
	if s.Applied() != entries {
		t.Errorf("applied after reopen = %d, want %d", s.Applied(), entries)
	}
	if got := len(mustLoad(t, s).Subs); got != entries {
		t.Errorf("%d subscriptions after reopen, want %d", got, entries)
	}
}

// TestCommitterConcurrentAppendWait is the broker's pattern: every caller
// appends and waits for its own entry, with no help from a gate.
func TestCommitterConcurrentAppendWait(t *testing.T) {
	const goroutines, perG = 16, 200
	const entries = goroutines * perG
	s, dir := newStore(t)
	var log commitLog
	c := startCommitter(t, s, CommitterOptions{OnCommit: log.record})

	idxs := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for gi := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			client := fmt.Sprintf("c%d", gi)
			for i := range perG {
				idx, err := c.Append(putSub(client, fmt.Sprintf("f/%d", i)))
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				idxs[gi] = append(idxs[gi], idx)
				if err := c.Wait(ctx, idx); err != nil {
					t.Errorf("wait for %d: %v", idx, err)
					return
				}
				if d := c.Durable(); d < idx {
					t.Errorf("Wait(%d) returned with Durable %d", idx, d)
					return
				}
			}
		}()
	}
	waitGroup(t, &wg, "appenders")
	checkContiguous(t, 0, idxs)
	if err := c.Close(); err != nil {
		t.Fatalf("close committer: %v", err)
	}

	stats := log.all()
	total := 0
	for _, st := range stats {
		total += st.Entries
	}
	if total != entries || len(stats) > entries {
		t.Errorf("%d commits carried %d entries, want %d entries in at most as many commits", len(stats), total, entries)
	}
	t.Logf("%d entries in %d commits", entries, len(stats))

	closeStore(t, s)
	s = openStore(t, dir)
	if s.Applied() != entries {
		t.Errorf("applied after reopen = %d, want %d", s.Applied(), entries)
	}
	if got := len(mustLoad(t, s).Subs); got != entries {
		t.Errorf("%d subscriptions after reopen, want %d", got, entries)
	}
}

func TestCommitterMaxBatch(t *testing.T) {
	cases := []struct {
		name     string
		maxBatch int
		sizes    []int // ops per entry, appended in this order
		want     []CommitStats
	}{
		{name: "all fit in one batch", maxBatch: 10, sizes: []int{2, 3, 5}, want: []CommitStats{{Entries: 3, Ops: 10}}},
		{name: "batch ends before the entry that would exceed", maxBatch: 5, sizes: []int{2, 3, 1, 4}, want: []CommitStats{{Entries: 2, Ops: 5}, {Entries: 2, Ops: 5}}},
		{name: "oversized entry goes alone and whole", maxBatch: 2, sizes: []int{1, 5, 1}, want: []CommitStats{{Entries: 1, Ops: 1}, {Entries: 1, Ops: 5}, {Entries: 1, Ops: 1}}},
		{name: "oversized first entry", maxBatch: 3, sizes: []int{4, 1, 1}, want: []CommitStats{{Entries: 1, Ops: 4}, {Entries: 2, Ops: 2}}},
		{name: "one op per batch", maxBatch: 1, sizes: []int{1, 1, 1}, want: []CommitStats{{Entries: 1, Ops: 1}, {Entries: 1, Ops: 1}, {Entries: 1, Ops: 1}}},
		{name: "empty entries ride along", maxBatch: 1, sizes: []int{0, 1, 0, 0, 1}, want: []CommitStats{{Entries: 4, Ops: 1}, {Entries: 1, Ops: 1}}},
		{name: "default is 4096", maxBatch: 0, sizes: []int{4096, 1}, want: []CommitStats{{Entries: 1, Ops: 4096}, {Entries: 1, Ops: 1}}},
		{name: "default fills to exactly 4096", maxBatch: 0, sizes: []int{4000, 96, 1}, want: []CommitStats{{Entries: 2, Ops: 4096}, {Entries: 1, Ops: 1}}},
		{name: "negative means default", maxBatch: -1, sizes: []int{4095, 1, 1}, want: []CommitStats{{Entries: 2, Ops: 4096}, {Entries: 1, Ops: 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			var log commitLog
			c, g := startGated(t, s, CommitterOptions{MaxBatch: tc.maxBatch, OnCommit: log.record})
			var last uint64
			totalOps := 0
			for i, n := range tc.sizes {
				last = mustAppend(t, c, subOps(fmt.Sprintf("e%d", i), n)...)
				totalOps += n
			}
			g.release()
			mustWait(t, c, last)
			if err := c.Close(); err != nil {
				t.Fatalf("close committer: %v", err)
			}
			got := log.all()
			for i := range got {
				got[i].Duration = 0
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("commits = %+v, want %+v", got, tc.want)
			}
			if s.Applied() != uint64(len(tc.sizes)) {
				t.Errorf("applied = %d, want %d", s.Applied(), len(tc.sizes))
			}
			if n := len(mustLoad(t, s).Subs); n != totalOps {
				t.Errorf("%d subscriptions stored, want %d", n, totalOps)
			}
		})
	}
}

func TestCommitterPreservesOrder(t *testing.T) {
	s, _ := newStore(t)
	c, g := startGated(t, s, CommitterOptions{MaxBatch: 2})
	var last uint64
	for i := range 9 {
		last = mustAppend(t, c,
			Op{Kind: OpSessionPut, Session: &Session{ClientID: "a", Listener: fmt.Sprintf("l%d", i)}},
			putSub("a", "x"))
		if i%2 == 0 {
			last = mustAppend(t, c, delSub("a", "x"))
		}
	}
	g.release()
	mustWait(t, c, last)
	snap := mustLoad(t, s)
	if len(snap.Sessions) != 1 || snap.Sessions[0].Listener != "l8" {
		t.Errorf("sessions = %+v, want the last put (l8)", snap.Sessions)
	}
	if len(snap.Subs) != 0 {
		t.Errorf("subs = %+v, want none (deleted last)", snap.Subs)
	}
}

func TestCommitterCloseFlushes(t *testing.T) {
	s, dir := newStore(t)
	c, g := startGated(t, s, CommitterOptions{MaxBatch: 7})
	var idxs []uint64
	for i := range 50 {
		idxs = append(idxs, mustAppend(t, c, putSub("a", fmt.Sprintf("f/%d", i))))
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	waitFor(t, "Close to mark the committer closed", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.closed
	})
	if _, err := c.Append(putSub("a", "late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append during Close: err = %v, want ErrClosed", err)
	}
	if c.Durable() != 0 {
		t.Fatalf("Durable = %d while the writer is held, want 0", c.Durable())
	}
	g.release()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not return")
	}
	if c.Durable() != 50 {
		t.Errorf("Durable after Close = %d, want 50", c.Durable())
	}
	for _, idx := range idxs {
		mustWait(t, c, idx)
	}
	closeStore(t, s)
	s = openStore(t, dir)
	snap := mustLoad(t, s)
	if snap.Applied != 50 || len(snap.Subs) != 50 {
		t.Errorf("after reopen: applied %d with %d subs, want 50 and 50", snap.Applied, len(snap.Subs))
	}
}

func TestCommitterAfterClose(t *testing.T) {
	s, _ := newStore(t)
	var fails atomic.Int32
	c := startCommitter(t, s, CommitterOptions{OnFail: func(error) { fails.Add(1) }})
	idx := mustAppend(t, c, putSession("a"))
	mustWait(t, c, idx)
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v, want nil", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cases := []struct {
		name  string
		check func() error
	}{
		{name: "append fails with ErrClosed", check: func() error {
			if _, err := c.Append(putSession("b")); !errors.Is(err, ErrClosed) {
				return fmt.Errorf("Append err = %v, want ErrClosed", err)
			}
			if c.Enqueued() != idx {
				return fmt.Errorf("Enqueued = %d, want %d", c.Enqueued(), idx)
			}
			return nil
		}},
		{name: "wait for a durable entry succeeds", check: func() error { return c.Wait(ctx, idx) }},
		{name: "wait for a later entry fails with ErrClosed", check: func() error {
			if err := c.Wait(ctx, idx+1); !errors.Is(err, ErrClosed) {
				return fmt.Errorf("Wait err = %v, want ErrClosed", err)
			}
			return nil
		}},
		{name: "failed and changed are closed", check: func() error {
			if !isClosed(c.Failed()) || !isClosed(c.Changed()) {
				return errors.New("Failed() or Changed() not closed after Close")
			}
			return nil
		}},
		{name: "err reports closed, not a failure", check: func() error {
			if err := c.Err(); !errors.Is(err, ErrClosed) {
				return fmt.Errorf("Err = %v, want ErrClosed", err)
			}
			return nil
		}},
		{name: "second close is nil", check: c.Close},
		{name: "OnFail not called", check: func() error {
			if n := fails.Load(); n != 0 {
				return fmt.Errorf("OnFail called %d times on a clean close", n)
			}
			return nil
		}},
		{name: "nothing written after close", check: func() error {
			if s.Applied() != idx {
				return fmt.Errorf("applied = %d, want %d", s.Applied(), idx)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCommitterCloseIdle: closing an idle committer neither waits for
// MaxBatchAge nor needs a commit.
func TestCommitterCloseIdle(t *testing.T) {
	s, _ := newStore(t)
	var log commitLog
	c, g := startGated(t, s, CommitterOptions{OnCommit: log.record})
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close of an idle committer waited for the batch age")
	}
	if w := g.waits(); len(w) != 0 {
		t.Errorf("writer waited %v on close", w)
	}
	if n := len(log.all()); n != 0 {
		t.Errorf("%d commits with nothing appended", n)
	}
}

func TestCommitterWaitContext(t *testing.T) {
	cases := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		durable bool // release the writer and wait before the tested Wait
		wantIs  error
	}{
		{
			name: "cancelled before the wait",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantIs: context.Canceled,
		},
		{
			name: "deadline passes",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			},
			wantIs: context.DeadlineExceeded,
		},
		{
			name: "cancelled but already durable",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			durable: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			c, g := startGated(t, s, CommitterOptions{})
			idx := mustAppend(t, c, putSession("a"))
			if tc.durable {
				g.release()
				mustWait(t, c, idx)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			err := c.Wait(ctx, idx)
			if tc.wantIs == nil {
				if err != nil {
					t.Fatalf("Wait = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("Wait = %v, want %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("entry %d", idx)) {
				t.Errorf("Wait error %q should name the entry", err)
			}
			// Cancelling the wait does not cancel the write.
			if c.Err() != nil {
				t.Errorf("Err = %v after a cancelled wait, want nil", c.Err())
			}
			g.release()
			mustWait(t, c, idx)
		})
	}
}

// TestCommitterWaitWakes starts a Wait, makes sure it is blocked, and then
// changes what it waits for.
func TestCommitterWaitWakes(t *testing.T) {
	release := func(t *testing.T, _ *Committer, g *gate, _ context.CancelFunc) { g.release() }
	cases := []struct {
		name   string
		before func(t *testing.T, s *Store) // while the writer is held
		ahead  bool                         // wait for an index not yet appended
		wake   func(t *testing.T, c *Committer, g *gate, cancel context.CancelFunc)
		wantIs error // nil: Wait returns nil
	}{
		{name: "entry becomes durable", wake: release},
		{
			name:   "context cancelled",
			wake:   func(_ *testing.T, _ *Committer, _ *gate, cancel context.CancelFunc) { cancel() },
			wantIs: context.Canceled,
		},
		{
			name:   "commit fails",
			before: func(t *testing.T, s *Store) { mustApply(t, s, []Op{putSession("intruder")}) },
			wake:   release,
			wantIs: ErrOutOfOrder,
		},
		{
			name:  "committer closed",
			ahead: true,
			wake: func(t *testing.T, c *Committer, g *gate, _ context.CancelFunc) {
				g.release()
				if err := c.Close(); err != nil {
					t.Errorf("close committer: %v", err)
				}
			},
			wantIs: ErrClosed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			c, g := startGated(t, s, CommitterOptions{})
			if tc.before != nil {
				tc.before(t, s)
			}
			idx := mustAppend(t, c, putSub("a", "x"))
			if tc.ahead {
				idx++
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			res := make(chan error, 1)
			go func() { res <- c.Wait(ctx, idx) }()
			waitBlocked(t, "state.(*Committer).Wait(")
			tc.wake(t, c, g, cancel)
			var err error
			select {
			case err = <-res:
			case <-time.After(testTimeout):
				t.Fatal("Wait did not wake")
			}
			if tc.wantIs == nil && err != nil {
				t.Errorf("Wait = %v, want nil", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Wait = %v, want %v", err, tc.wantIs)
			}
		})
	}
}

func TestCommitterFailure(t *testing.T) {
	cases := []struct {
		name        string
		before      func(t *testing.T, s *Store) // before the committer starts
		inject      func(t *testing.T, s *Store) // after entry 1 is durable
		wantIs      error
		wantText    string
		wantApplied uint64
	}{
		{
			name: "entry index out of order",
			inject: func(t *testing.T, s *Store) {
				// Someone else wrote the store: the committer's next index
				// is now taken.
				mustApply(t, s, []Op{putSession("intruder")})
			},
			wantIs:      ErrOutOfOrder,
			wantText:    "got 2 after 2",
			wantApplied: 2,
		},
		{
			name: "corrupt record at apply time",
			before: func(t *testing.T, s *Store) {
				mustApply(t, s, []Op{acceptMsg(7), putDeliv("a", 7, DeliveryPublish)})
				err := s.db.Update(func(tx *bolt.Tx) error {
					return tx.Bucket(bucketDeliv).Put(delivKey("a", 7), []byte("{corrupt"))
				})
				if err != nil {
					t.Fatalf("corrupt the delivery of message 7: %v", err)
				}
			},
			wantText:    "decode",
			wantApplied: 2,
		},
		{
			name: "database closed underneath",
			inject: func(t *testing.T, s *Store) {
				if err := s.db.Close(); err != nil {
					t.Fatalf("close bbolt: %v", err)
				}
			},
			wantIs:      berrors.ErrDatabaseNotOpen,
			wantApplied: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			if tc.before != nil {
				tc.before(t, s)
			}
			var (
				mu       sync.Mutex
				failErrs []error
				commits  int
			)
			// The first OnCommit holds the writer until proceed is closed,
			// so that the failing entry and one behind it are both queued
			// (in separate batches: MaxBatch 1) when the writer goes on.
			proceed := make(chan struct{})
			c := startCommitter(t, s, CommitterOptions{
				MaxBatch: 1,
				OnCommit: func(CommitStats) {
					mu.Lock()
					commits++
					first := commits == 1
					mu.Unlock()
					if first {
						<-proceed
					}
				},
				OnFail: func(err error) {
					mu.Lock()
					defer mu.Unlock()
					failErrs = append(failErrs, err)
				},
			})
			t.Cleanup(func() { closeOnce(proceed) })
			ok := mustAppend(t, c, putSub("x", "ok"))
			mustWait(t, c, ok) // durable before OnCommit runs
			if tc.inject != nil {
				tc.inject(t, s)
			}
			// One entry whose middle op touches message 7: all or nothing.
			bad := mustAppend(t, c, putSub("x", "a"), routeMsg(7), putSub("x", "b"))
			// Queued behind the failure. After the out-of-order failure its
			// index would fit: only stopping for good keeps it out.
			queued := mustAppend(t, c, putSub("x", "queued"))
			closeOnce(proceed)

			waitClosed(t, "Failed()", c.Failed())
			failure := c.Err()
			if failure == nil {
				t.Fatal("Err() = nil after Failed() closed")
			}
			if tc.wantIs != nil && !errors.Is(failure, tc.wantIs) {
				t.Errorf("Err() = %v, want errors.Is %v", failure, tc.wantIs)
			}
			if !strings.Contains(failure.Error(), tc.wantText) {
				t.Errorf("Err() = %q, want it to contain %q", failure, tc.wantText)
			}

			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := c.Wait(ctx, bad); !errors.Is(err, failure) {
				t.Errorf("Wait(failed entry) = %v, want the failure", err)
			}
			if err := c.Wait(ctx, queued); !errors.Is(err, failure) {
				t.Errorf("Wait(queued entry) = %v, want the failure", err)
			}
			if err := c.Wait(ctx, ok); err != nil {
				t.Errorf("Wait(entry durable before the failure) = %v, want nil", err)
			}
			if c.Durable() != ok {
				t.Errorf("Durable = %d, want %d", c.Durable(), ok)
			}
			if _, err := c.Append(putSub("x", "after")); !errors.Is(err, failure) {
				t.Errorf("Append after failure = %v, want the failure", err)
			}
			if !isClosed(c.Changed()) {
				t.Error("Changed() not closed after failure")
			}
			for i := range 2 {
				if err := c.Close(); !errors.Is(err, failure) {
					t.Errorf("Close #%d = %v, want the failure", i+1, err)
				}
			}
			mu.Lock()
			if len(failErrs) != 1 || failErrs[0] != failure {
				t.Errorf("OnFail calls = %v, want exactly one with %v", failErrs, failure)
			}
			if commits != 1 {
				t.Errorf("%d commits, want only the one before the failure", commits)
			}
			mu.Unlock()

			closeStore(t, s)
			s = openStore(t, dir)
			if s.Applied() != tc.wantApplied {
				t.Errorf("applied after reopen = %d, want %d", s.Applied(), tc.wantApplied)
			}
			if got, want := rawSubs(t, s), []string{"x ok"}; !reflect.DeepEqual(got, want) {
				t.Errorf("subscriptions after failure = %v, want %v", got, want)
			}
		})
	}
}

// rawSubs lists "client filter" of every stored subscription without Load,
// which a deliberately corrupt record elsewhere would fail.
func rawSubs(t *testing.T, s *Store) []string {
	t.Helper()
	var subs []Subscription
	if err := s.db.View(func(tx *bolt.Tx) error { return loadAll(tx.Bucket(bucketSubs), &subs) }); err != nil {
		t.Fatalf("read subscriptions: %v", err)
	}
	var out []string
	for _, sub := range subs {
		out = append(out, sub.ClientID+" "+sub.Filter)
	}
	slices.Sort(out)
	return out
}

func TestCommitterAppendValidates(t *testing.T) {
	cases := []struct {
		name     string
		ops      []Op
		wantText string
	}{
		{name: "incomplete op after a valid one", ops: []Op{putSub("x", "rejected"), {Kind: OpSubPut}}, wantText: "incomplete sub_put"},
		{name: "unknown kind", ops: []Op{{Kind: OpKind(42)}}, wantText: "unknown op kind 42"},
		{name: "zero op", ops: []Op{{}}, wantText: "unknown op kind 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			c := startCommitter(t, s, CommitterOptions{})
			first := mustAppend(t, c, putSub("x", "first"))
			_, err := c.Append(tc.ops...)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Append = %v, want an error containing %q", err, tc.wantText)
			}
			if c.Enqueued() != first {
				t.Errorf("Enqueued = %d after a rejected append, want %d", c.Enqueued(), first)
			}
			next := mustAppend(t, c, putSub("x", "next"))
			if next != first+1 {
				t.Errorf("next index = %d, want %d (a rejected append takes no index)", next, first+1)
			}
			mustWait(t, c, next)
			if c.Err() != nil || isClosed(c.Failed()) {
				t.Errorf("a rejected append failed the committer: %v", c.Err())
			}
			if err := c.Close(); err != nil {
				t.Fatalf("close committer: %v", err)
			}
			if got, want := rawSubs(t, s), []string{"x first", "x next"}; !reflect.DeepEqual(got, want) {
				t.Errorf("subscriptions = %v, want %v", got, want)
			}
		})
	}
}

func TestCommitterContinuesFromApplied(t *testing.T) {
	s, dir := newStore(t)
	mustApply(t, s, []Op{putSession("a")}, []Op{putSession("b")}, nil, nil, []Op{acceptMsg(3)})
	closeStore(t, s)
	s = openStore(t, dir)

	c := startCommitter(t, s, CommitterOptions{})
	if c.Durable() != 5 || c.Enqueued() != 5 {
		t.Errorf("Durable %d Enqueued %d, want 5 5", c.Durable(), c.Enqueued())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, idx := range []uint64{0, 3, 5} {
		if err := c.Wait(ctx, idx); err != nil {
			t.Errorf("Wait(%d) for an applied entry = %v, want nil", idx, err)
		}
	}
	idx := mustAppend(t, c, putSession("c"))
	if idx != 6 {
		t.Errorf("first index = %d, want 6", idx)
	}
	mustWait(t, c, idx)
	if err := c.Close(); err != nil {
		t.Fatalf("close committer: %v", err)
	}
	if s.Applied() != 6 {
		t.Errorf("applied = %d, want 6", s.Applied())
	}
}

func TestCommitterChanged(t *testing.T) {
	s, _ := newStore(t)
	c, g := startGated(t, s, CommitterOptions{})
	ch := c.Changed()
	idx := mustAppend(t, c, putSession("a"))
	if isClosed(ch) {
		t.Fatal("Changed() closed before anything was durable")
	}
	g.release()
	waitClosed(t, "Changed() after a commit", ch)
	if c.Durable() < idx {
		t.Errorf("Changed() closed with Durable %d < %d", c.Durable(), idx)
	}
	if isClosed(c.Changed()) {
		t.Error("Changed() after the commit returned the spent channel")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close committer: %v", err)
	}
	if !isClosed(c.Changed()) {
		t.Error("Changed() not closed after Close")
	}
}

func TestCommitterBatchAge(t *testing.T) {
	cases := []struct {
		name      string
		age       time.Duration
		injected  bool // replace the timer with a recorder
		wantWaits bool
	}{
		{name: "zero age never waits", age: 0, injected: true, wantWaits: false},
		{name: "age is what the writer waits", age: 3 * time.Millisecond, injected: true, wantWaits: true},
		{name: "real timer", age: time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			var (
				mu    sync.Mutex
				waits []time.Duration
			)
			opts := CommitterOptions{MaxBatchAge: tc.age}
			if tc.injected {
				opts.after = func(d time.Duration) <-chan time.Time {
					mu.Lock()
					defer mu.Unlock()
					waits = append(waits, d)
					ch := make(chan time.Time)
					close(ch)
					return ch
				}
			}
			c := startCommitter(t, s, opts)
			for i := range 3 {
				mustWait(t, c, mustAppend(t, c, putSub("a", fmt.Sprint(i))))
			}
			if err := c.Close(); err != nil {
				t.Fatalf("close committer: %v", err)
			}
			if s.Applied() != 3 {
				t.Errorf("applied = %d, want 3", s.Applied())
			}
			if !tc.injected {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !tc.wantWaits && len(waits) != 0 {
				t.Errorf("writer waited %v with MaxBatchAge 0", waits)
			}
			if tc.wantWaits && len(waits) == 0 {
				t.Error("writer never waited for MaxBatchAge")
			}
			for _, d := range waits {
				if d != tc.age {
					t.Errorf("writer waited %v, want MaxBatchAge %v", d, tc.age)
				}
			}
		})
	}
}

func TestCommitterStats(t *testing.T) {
	const step = 7 * time.Millisecond
	base := time.Unix(1700000000, 0)
	var ticks atomic.Int64
	s, _ := newStore(t)
	var log commitLog
	c, g := startGated(t, s, CommitterOptions{
		OnCommit: log.record,
		Now:      func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * step) },
	})
	mustAppend(t, c, subOps("a", 2)...)
	mustAppend(t, c, putSub("b", "x"))
	last := mustAppend(t, c, subOps("c", 3)...)
	g.release()
	mustWait(t, c, last)
	mustWait(t, c, mustAppend(t, c))
	if err := c.Close(); err != nil {
		t.Fatalf("close committer: %v", err)
	}
	want := []CommitStats{{Entries: 3, Ops: 6, Duration: step}, {Entries: 1, Ops: 0, Duration: step}}
	if got := log.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}
