package sync

import (
	"log/slog"
	"maps"
	"slices"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triadmq/triad/sync/state"
)

// Durable is the local durability a Quorum builds on (the committer).
type Durable interface {
	Enqueued() uint64
	Durable() uint64
	Changed() <-chan struct{}
	Failed() <-chan struct{}
	Err() error
}

// appendTimer is the optional ability of a Durable (the committer) to
// tell when an entry was appended (state.Committer.AppendedAt). Without
// it a Quorum reports no lag in seconds and no commit latency.
type appendTimer interface {
	AppendedAt(idx uint64) time.Time
}

var _ appendTimer = (*state.Committer)(nil) // the node's local durability has it

// Quorum is the durability client acknowledgements wait for on a
// replicating leader: an entry counts as durable once it is durable on the
// leader AND acknowledged by every follower in the in-sync set. With no
// follower in sync it falls back to the leader alone (continue) or holds
// (block).
//
// The in-sync set changes in a safe order: a follower is added here before
// it is published as in sync (so acknowledgements wait for it from then
// on), and removed here only after its removal is published (so nothing is
// acknowledged without it while it could still be elected).
type Quorum struct {
	local  Durable
	times  appendTimer // local's, if it has the ability
	block  bool
	log    *slog.Logger
	now    func() time.Time
	commit prometheus.Histogram // append to durable on the quorum, one sample per advance

	mu        gosync.Mutex
	acked     map[string]uint64
	insync    map[string]bool
	connected map[string]bool // followers with an open stream, as last told
	lost      map[string]bool // followers that came back with less than they had acknowledged
	samples   []appliedSample // recent indexes, for the in-sync record's floors (Applied)
	last      uint64          // Durable's value while a follower was in sync
	sampled   uint64          // Durable's value at the last commit latency sample
	changed   chan struct{}
	stop      chan struct{}
	once      gosync.Once
}

// NewQuorum wraps local. block selects the no-follower policy.
func NewQuorum(local Durable, block bool, log *slog.Logger) *Quorum {
	q := &Quorum{local: local, block: block, log: log, now: time.Now, commit: newCommitHistogram(),
		acked: map[string]uint64{}, insync: map[string]bool{}, connected: map[string]bool{}, lost: map[string]bool{},
		changed: make(chan struct{}), stop: make(chan struct{})}
	q.times, _ = local.(appendTimer)
	q.sampled = local.Durable()
	go q.relay(local.Changed()) // taken now: no local change after NewQuorum is missed
	return q
}

// relay turns local progress into a change of the quorum: it takes the
// next local channel before it signals, so a waiter that re-reads Durable
// after the signal never misses a step.
func (q *Quorum) relay(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
			ch = q.local.Changed()
			q.notify()
		case <-q.local.Failed():
			q.notify()
			return
		case <-q.stop:
			return
		}
	}
}

// Close stops the relay goroutine.
func (q *Quorum) Close() { q.once.Do(func() { close(q.stop) }) }

// notify signals a possible change of Durable and, when it did advance,
// samples the commit latency: the age of the oldest entry that just became
// durable on the quorum (one sample per advance, not per entry).
func (q *Quorum) notify() {
	d := q.local.Durable()
	q.mu.Lock()
	close(q.changed)
	q.changed = make(chan struct{})
	cur, from := q.durableLocked(d), q.sampled+1
	advanced := cur > q.sampled
	if advanced {
		q.sampled = cur
	}
	q.mu.Unlock()
	if advanced && q.times != nil {
		q.commit.Observe(q.age(from, q.now()))
	}
}

// Enqueued is the local committer's.
func (q *Quorum) Enqueued() uint64 { return q.local.Enqueued() }

// Failed is the local committer's.
func (q *Quorum) Failed() <-chan struct{} { return q.local.Failed() }

// Err is the local committer's.
func (q *Quorum) Err() error { return q.local.Err() }

// Changed is closed when Durable may have moved.
func (q *Quorum) Changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

// Durable is the highest index durable on the leader and on every in-sync
// follower.
func (q *Quorum) Durable() uint64 {
	d := q.local.Durable()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.durableLocked(d)
}

// durableLocked is Durable given the local durable index d; q.mu is held.
func (q *Quorum) durableLocked(d uint64) uint64 {
	if len(q.insync) == 0 {
		if q.block {
			return q.last // nothing new is acknowledged until a follower is in sync
		}
		return d
	}
	for f := range q.insync {
		d = min(d, q.acked[f])
	}
	q.last = max(q.last, d)
	return d
}

// Ack records that follower has index durable.
func (q *Quorum) Ack(follower string, index uint64) {
	q.mu.Lock()
	if index > q.acked[follower] {
		q.acked[follower] = index
	}
	q.mu.Unlock()
	q.notify()
}

// Rejoined records the applied index a follower reports when its stream
// opens. Less than it had acknowledged means it lost acknowledged entries
// (a wiped or restored data directory): it must leave the in-sync set at
// once (InSyncManager.Step), not after the ack timeout, or it could be
// elected without them.
func (q *Quorum) Rejoined(follower string, applied uint64) {
	q.mu.Lock()
	lost := applied < q.acked[follower]
	if lost {
		q.log.Warn("follower came back without entries it had acknowledged (wiped or restored data?); it leaves the in-sync set until it catches up",
			"follower", follower, "applied", applied, "acknowledged", q.acked[follower])
		q.acked[follower] = applied // its acknowledgements start again from what it has
		q.lost[follower] = true
	}
	q.mu.Unlock()
	if lost {
		q.notify()
	}
}

// lostEntries reports whether follower came back without entries it had
// acknowledged and has not caught up since.
func (q *Quorum) lostEntries(follower string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lost[follower]
}

// floorAge is how old the indexes an in-sync record carries are: a node
// compares its applied index with them (election.InSync.Holds), and what
// it publishes may lag its store by a status interval, so the record must
// lag more. A node that lost more than its last floorAge of entries (a
// wiped data directory, a restore from an older backup) is caught.
const floorAge = 10 * time.Second

// appliedSample is the leader's durable index and each follower's
// acknowledged index at one time.
type appliedSample struct {
	at      time.Time
	durable uint64
	acked   map[string]uint64
}

// Applied is what an in-sync record says each node holds: the index
// durable on the leader (under leader) and the index each member had
// acknowledged, floorAge ago (nothing before this leader has led that
// long: a node then counts as holding what the member list says).
func (q *Quorum) Applied(leader string, members []string) map[string]uint64 {
	d := q.local.Durable()
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.samples); n == 0 || now.Sub(q.samples[n-1].at) >= time.Second {
		q.samples = append(q.samples, appliedSample{at: now, durable: d, acked: maps.Clone(q.acked)})
	}
	var floor *appliedSample
	keep := 0
	for i := range q.samples {
		if now.Sub(q.samples[i].at) >= floorAge {
			floor, keep = &q.samples[i], i // the newest old enough; older ones are no longer needed
		}
	}
	out := map[string]uint64{}
	if floor != nil {
		out[leader] = floor.durable
		for _, m := range members {
			out[m] = floor.acked[m]
		}
	}
	q.samples = q.samples[keep:]
	return out
}

func (q *Quorum) clearLost(follower string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.lost, follower)
}

// Acked is follower's last acknowledged index.
func (q *Quorum) Acked(follower string) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.acked[follower]
}

// Lag is how many durable entries the slowest in-sync follower has not
// acknowledged (0 with none in sync).
func (q *Quorum) Lag() uint64 {
	d := q.local.Durable()
	q.mu.Lock()
	defer q.mu.Unlock()
	var lag uint64
	for f := range q.insync {
		if a := q.acked[f]; a < d {
			lag = max(lag, d-a)
		}
	}
	return lag
}

// FollowerLag is the leader's view of one follower, for metrics and status.
type FollowerLag struct {
	Name      string
	Acked     uint64 // the last index it acknowledged as durable
	Lag       uint64 // entries durable on the leader it has not acknowledged
	InSync    bool   // its acknowledgements count (the in-sync set)
	Connected bool   // it had an open stream when last told (InSyncManager.Step)
	// LagSeconds is the age of the oldest of those entries; 0 when it
	// has acknowledged every durable entry, or without append times.
	LagSeconds float64
}

// Followers reports every follower this leader knows (one that acked, is
// in sync or is connected), sorted by name.
func (q *Quorum) Followers() []FollowerLag {
	d := q.local.Durable()
	now := q.now()
	q.mu.Lock()
	names := slices.Collect(maps.Keys(q.acked))
	for f := range q.insync {
		names = append(names, f)
	}
	for f := range q.connected {
		names = append(names, f)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]FollowerLag, len(names))
	for i, f := range names {
		a := q.acked[f]
		out[i] = FollowerLag{Name: f, Acked: a, InSync: q.insync[f], Connected: q.connected[f]}
		if a < d {
			out[i].Lag = d - a
		}
	}
	q.mu.Unlock()
	for i := range out { // outside q.mu: AppendedAt has a lock of its own
		if out[i].Lag > 0 {
			out[i].LagSeconds = q.age(out[i].Acked+1, now)
		}
	}
	return out
}

// LagSeconds is the largest LagSeconds of the in-sync followers (0 with
// none in sync).
func (q *Quorum) LagSeconds() float64 {
	var lag float64
	for _, f := range q.Followers() {
		if f.InSync {
			lag = max(lag, f.LagSeconds)
		}
	}
	return lag
}

// age is how long ago entry idx was appended, at now (0 without append
// times).
func (q *Quorum) age(idx uint64, now time.Time) float64 {
	if q.times == nil {
		return 0
	}
	return max(0, now.Sub(q.times.AppendedAt(idx)).Seconds())
}

// setConnected records which followers have an open stream.
func (q *Quorum) setConnected(followers []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	clear(q.connected)
	for _, f := range followers {
		q.connected[f] = true
	}
}

// AllAcked reports whether every in-sync follower has acknowledged the
// leader's durable index (true with none in sync).
func (q *Quorum) AllAcked() bool {
	d := q.local.Durable()
	q.mu.Lock()
	defer q.mu.Unlock()
	for f := range q.insync {
		if q.acked[f] < d {
			return false
		}
	}
	return true
}

// InSync lists the followers whose acknowledgements count, sorted.
func (q *Quorum) InSync() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]string, 0, len(q.insync))
	for f := range q.insync {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Add makes acknowledgements wait for follower (before it is published as
// in sync).
func (q *Quorum) Add(follower string) {
	q.mu.Lock()
	q.insync[follower] = true
	q.mu.Unlock()
	q.notify()
}

// Remove stops waiting for follower (after its removal was published).
func (q *Quorum) Remove(follower string) {
	q.mu.Lock()
	delete(q.insync, follower)
	none := len(q.insync) == 0
	q.mu.Unlock()
	if none {
		if q.block {
			q.log.Error("no follower in sync: acknowledgements wait until one catches up (no_follower: block)")
		} else {
			q.log.Warn("NO FOLLOWER IN SYNC: acknowledging with the leader's disk only; a crash of this node now loses acknowledged data (no_follower: continue)")
		}
	}
	q.notify()
}

// InSyncManager decides, on the leader, who is in the in-sync set: a
// follower joins once it has caught up with the leader's durable index and
// leaves when it has owed an acknowledgement for longer than timeout.
// publish writes the set to etcd under the leader's epoch; it must succeed
// before a removal takes effect.
type InSyncManager struct {
	Quorum  *Quorum
	Timeout time.Duration
	Publish func(members []string) error
	Log     *slog.Logger
	// Refresh, if set, republishes an unchanged non-empty set this often,
	// so that the indexes the record carries (election.InSync.Applied)
	// stay recent.
	Refresh time.Duration

	behind    map[string]time.Time // in-sync followers owing an ack, since when
	published []string             // the set as last written to etcd
	dirty     bool                 // the quorum's set was not published yet
	lastPub   time.Time            // when it was last written
}

// Step looks at every known follower once; connected lists the followers
// with an open stream. It returns whether the set changed.
func (m *InSyncManager) Step(connected []string, now time.Time) bool {
	if m.behind == nil {
		m.behind = map[string]time.Time{}
	}
	q := m.Quorum
	q.setConnected(connected)
	local := q.local.Durable()
	members := q.InSync()
	changed := false
	for _, f := range connected {
		if !slices.Contains(members, f) && q.Acked(f) >= local {
			q.Add(f) // wait for it first, then publish
			q.clearLost(f)
			members = q.InSync()
			m.dirty = true
			m.Log.Info("follower caught up", "follower", f, "index", local)
		}
	}
	if m.dirty { // additions: the quorum already waits for them
		if err := m.Publish(members); err != nil {
			m.Log.Warn("cannot publish the in-sync set yet; acknowledgements already wait for its new members", "members", members, "error", err)
		} else {
			m.Log.Info("in-sync set published", "members", members)
			m.published, m.dirty, changed, m.lastPub = members, false, true, now
		}
	}
	for _, f := range members {
		lost := q.lostEntries(f)
		if q.Acked(f) >= local && !lost {
			delete(m.behind, f)
			continue
		}
		since, ok := m.behind[f]
		if !ok {
			m.behind[f] = now
			since = now
		}
		if !lost && now.Sub(since) < m.Timeout {
			continue
		}
		next := slices.DeleteFunc(slices.Clone(members), func(s string) bool { return s == f })
		if m.dirty {
			continue // publish the additions first
		}
		if err := m.Publish(next); err != nil {
			m.Log.Warn("cannot publish the in-sync set without a silent follower; acknowledgements keep waiting", "follower", f, "error", err)
			continue
		}
		q.Remove(f) // published first: it can no longer be elected
		q.clearLost(f)
		m.published, m.lastPub = next, now
		delete(m.behind, f)
		m.Log.Warn("follower dropped from the in-sync set", "follower", f, "acked", q.Acked(f), "durable", local, "silent_for", now.Sub(since))
		members, changed = next, true
	}
	if !changed && !m.dirty && m.Refresh > 0 && len(m.published) > 0 && now.Sub(m.lastPub) >= m.Refresh {
		if err := m.Publish(m.published); err != nil {
			m.Log.Debug("in-sync set not refreshed", "error", err)
		} else {
			m.lastPub = now
		}
	}
	return changed
}
