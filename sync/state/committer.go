package state

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Append and Wait after Close.
var ErrClosed = errors.New("state: committer closed")

// CommitStats describes one group commit, for metrics.
type CommitStats struct {
	Entries  int
	Ops      int
	Duration time.Duration
}

// CommitterOptions tune group commit.
type CommitterOptions struct {
	MaxBatch    int               // ops per transaction; default 4096
	MaxBatchAge time.Duration     // extra wait to grow a batch; default 0
	OnCommit    func(CommitStats) // optional; called on the writer goroutine
	OnFail      func(err error)   // optional; called once when a commit fails
	// OnApplied, optional, receives every batch once it is durable, in
	// order, on the writer goroutine: the replication log's feed. It must
	// not keep the slice's ops beyond what it needs and must not block.
	OnApplied func([]Entry)
	// OnAppend, optional, receives every entry as it is appended, in index
	// order, before it is durable (under the committer's lock: it must not
	// block). A replicating leader streams from it so that its followers
	// write in parallel with its own fsync.
	OnAppend func(Entry)
	Now      func() time.Time // optional clock of CommitStats, for tests
	// AppendClock, optional, is the clock AppendedAt remembers append
	// times by (tests); default time.Now.
	AppendClock func() time.Time
	after       func(time.Duration) <-chan time.Time
}

// Committer is the single write path into a Store: Append queues an entry
// and returns its index at once; one goroutine applies queued entries from
// all callers in one transaction and one fsync (group commit); Wait blocks
// until an index is durable.
//
// After a failed commit the committer is failed for good: Append and Wait
// return the error, and nothing further is written. A durable broker must
// not acknowledge anything after its disk failed, so the owner is expected
// to stop serving (see Failed).
type Committer struct {
	store *Store
	opts  CommitterOptions

	enqueued atomic.Uint64
	durable  atomic.Uint64
	epoch    atomic.Int64 // stamped on every appended entry
	times    *appendTimes

	mu        sync.Mutex
	pending   []Entry
	next      uint64
	durableCh chan struct{} // closed and replaced whenever durable advances
	err       error
	closed    bool

	kick   chan struct{}
	failed chan struct{}
	done   chan struct{}
}

// NewCommitter starts the writer goroutine over store. The store must not
// be written by anyone else until Close returns.
func NewCommitter(store *Store, opts CommitterOptions) *Committer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AppendClock == nil {
		opts.AppendClock = time.Now
	}
	if opts.after == nil {
		opts.after = time.After
	}
	c := &Committer{
		store:     store,
		opts:      opts,
		next:      store.Applied() + 1,
		durableCh: make(chan struct{}),
		kick:      make(chan struct{}, 1),
		failed:    make(chan struct{}),
		done:      make(chan struct{}),
		times:     newAppendTimes(opts.AppendClock()),
	}
	c.enqueued.Store(store.Applied())
	c.durable.Store(store.Applied())
	c.epoch.Store(store.AppliedEpoch()) // a standalone node keeps its last cluster epoch
	go c.run()
	return c
}

// Append queues ops as one entry and returns its index. It never blocks on
// the disk.
func (c *Committer) Append(ops ...Op) (uint64, error) {
	for i := range ops {
		if err := ops[i].Validate(); err != nil {
			return 0, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, ErrClosed
	}
	idx := c.next
	c.next++
	e := Entry{Index: idx, Epoch: c.epoch.Load(), Ops: ops}
	c.pending = append(c.pending, e)
	c.times.add(idx, c.opts.AppendClock())
	if c.opts.OnAppend != nil {
		c.opts.OnAppend(e)
	}
	c.enqueued.Store(idx)
	select { // under mu, so Close cannot close kick in between
	case c.kick <- struct{}{}:
	default:
	}
	return idx, nil
}

// SetEpoch sets the epoch stamped on entries appended from now on (the
// leader's epoch; a standalone node keeps the last one). It never goes
// down: a lower e is ignored.
func (c *Committer) SetEpoch(e int64) {
	for {
		cur := c.epoch.Load()
		if e <= cur || c.epoch.CompareAndSwap(cur, e) {
			return
		}
	}
}

// AppendedAt tells when entry idx was appended, for replication lag and
// commit latency: early by less than 50 µs for entries of at least the
// last 0.1 s, by less than 10 ms for those of at least the last 80 s. For an entry older than that
// (or appended before this committer started) it returns the oldest time
// it knows, so an age computed from it is a lower bound. Safe for
// concurrent use; it does not take the committer's lock.
func (c *Committer) AppendedAt(idx uint64) time.Time { return c.times.at(idx) }

// Enqueued is the index of the last appended entry.
func (c *Committer) Enqueued() uint64 { return c.enqueued.Load() }

// Durable is the index of the last entry known to be on disk.
func (c *Committer) Durable() uint64 { return c.durable.Load() }

// Failed is closed when the committer has failed (or was closed).
func (c *Committer) Failed() <-chan struct{} { return c.failed }

// Err returns the failure, or nil.
func (c *Committer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Wait blocks until entry idx is durable, the committer fails, or ctx ends
// (cancellation only stops the wait; the entry is still written).
func (c *Committer) Wait(ctx context.Context, idx uint64) error {
	for {
		if c.durable.Load() >= idx {
			return nil
		}
		c.mu.Lock()
		ch, err := c.durableCh, c.err
		c.mu.Unlock()
		if c.durable.Load() >= idx {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-c.failed:
		case <-ctx.Done():
			return fmt.Errorf("state: wait for entry %d: %w", idx, ctx.Err())
		}
	}
}

// Changed returns a channel closed when the durable index next advances or
// the committer fails.
func (c *Committer) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.failed
	}
	return c.durableCh
}

// Close writes what is queued, stops the writer and returns the failure, if
// any. Appends after Close fail with ErrClosed.
func (c *Committer) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.kick)
	}
	c.mu.Unlock()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(c.err, ErrClosed) {
		return nil
	}
	return c.err
}

func (c *Committer) run() {
	defer close(c.done)
	for {
		_, open := <-c.kick
		if open && c.opts.MaxBatchAge > 0 {
			<-c.opts.after(c.opts.MaxBatchAge)
		}
		for {
			batch := c.take()
			if len(batch) == 0 {
				break
			}
			if err := c.commit(batch); err != nil {
				c.fail(err)
				return
			}
		}
		if !open {
			c.fail(ErrClosed)
			return
		}
	}
}

// take removes up to MaxBatch ops' worth of whole entries from the queue.
func (c *Committer) take() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ops := 0, 0
	for n < len(c.pending) && (n == 0 || ops+len(c.pending[n].Ops) <= c.opts.MaxBatch) {
		ops += len(c.pending[n].Ops)
		n++
	}
	batch := c.pending[:n:n]
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return batch
}

func (c *Committer) commit(batch []Entry) error {
	start := c.opts.Now()
	if err := c.store.Apply(batch); err != nil {
		return err
	}
	if c.opts.OnApplied != nil {
		c.opts.OnApplied(batch)
	}
	c.durable.Store(batch[len(batch)-1].Index)
	c.mu.Lock()
	close(c.durableCh)
	c.durableCh = make(chan struct{})
	c.mu.Unlock()
	if c.opts.OnCommit != nil {
		ops := 0
		for _, e := range batch {
			ops += len(e.Ops)
		}
		c.opts.OnCommit(CommitStats{Entries: len(batch), Ops: ops, Duration: c.opts.Now().Sub(start)})
	}
	return nil
}

func (c *Committer) fail(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
		close(c.failed)
	}
	c.mu.Unlock()
	if first && !errors.Is(err, ErrClosed) && c.opts.OnFail != nil {
		c.opts.OnFail(err)
	}
}

// Append-time sampling: instead of a timestamp per entry, a ring keeps
// (index, time) of an entry whenever gap has passed since its last
// sample. Entries between two samples were appended within gap of the
// first, so its time stands for theirs. A fine ring covers recent entries
// closely; a coarse one covers minutes.
const (
	fineGap       = 50 * time.Microsecond
	fineSamples   = 2048 // ≥ 0.1 s
	coarseGap     = 10 * time.Millisecond
	coarseSamples = 8192 // ≥ 80 s
)

// appendTimes remembers when entries were appended. add runs under the
// committer's lock (one writer); at runs anywhere.
type appendTimes struct {
	t0 time.Time // the committer's start: every time is kept as an offset from it

	// writer only (under Committer.mu)
	lastFine, lastCoarse time.Duration
	written              bool

	mu     sync.Mutex // the rings, between the writer and readers
	fine   sampleRing
	coarse sampleRing
}

// sampleRing holds the latest samples, indexes increasing.
type sampleRing struct {
	idx []uint64
	at  []time.Duration
	n   int // samples ever written
}

func newAppendTimes(t0 time.Time) *appendTimes {
	return &appendTimes{t0: t0,
		fine:   sampleRing{idx: make([]uint64, fineSamples), at: make([]time.Duration, fineSamples)},
		coarse: sampleRing{idx: make([]uint64, coarseSamples), at: make([]time.Duration, coarseSamples)}}
}

// add notes that entry idx was appended at now: a clock read and a
// comparison, and a short lock at most once per fineGap.
func (a *appendTimes) add(idx uint64, now time.Time) {
	d := now.Sub(a.t0)
	fine := !a.written || d-a.lastFine >= fineGap
	coarse := !a.written || d-a.lastCoarse >= coarseGap
	if !fine && !coarse {
		return
	}
	a.written = true
	a.mu.Lock()
	if fine {
		a.fine.put(idx, d)
		a.lastFine = d
	}
	if coarse {
		a.coarse.put(idx, d)
		a.lastCoarse = d
	}
	a.mu.Unlock()
}

func (a *appendTimes) at(idx uint64) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := a.fine.find(idx); ok {
		return a.t0.Add(d)
	}
	if d, ok := a.coarse.find(idx); ok {
		return a.t0.Add(d)
	}
	if a.coarse.n > len(a.coarse.idx) { // wrapped: older than the oldest sample kept
		return a.t0.Add(a.coarse.at[a.coarse.n%len(a.coarse.idx)])
	}
	return a.t0 // appended before this committer started
}

func (r *sampleRing) put(idx uint64, d time.Duration) {
	i := r.n % len(r.idx)
	r.idx[i], r.at[i] = idx, d
	r.n++
}

// find returns the time of the newest sample at or below idx; false when
// idx is older than every sample kept.
func (r *sampleRing) find(idx uint64) (time.Duration, bool) {
	size := len(r.idx)
	oldest := max(0, r.n-size)
	// the first sample (oldest..n) above idx; the one before it is the answer
	k := oldest + sort.Search(r.n-oldest, func(j int) bool { return r.idx[(oldest+j)%size] > idx })
	if k == oldest {
		return 0, false
	}
	return r.at[(k-1)%size], true
}
