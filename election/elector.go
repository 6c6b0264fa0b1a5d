package election

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/version"
)

// Local is the node's own state, reported in its status record and used
// to decide whether it may lead.
type Local struct {
	Healthy bool
	InSync  bool
	Applied uint64
	MQTT    []string
	HTTP    string
	Repl    string // replication address, "" without replication
	Mode    string // cluster.mode (NodeStatus.Mode)
	// Followers is a replicating leader's report on its followers'
	// streams (NodeStatus.Followers).
	Followers []FollowerStatus
}

// Callbacks connect the elector to the node. They run on the elector's
// loop, one at a time.
type Callbacks struct {
	// Promote makes the node serve as leader of epoch; the broker checks
	// fence on every client read and write. An error gives leadership up.
	Promote func(ctx context.Context, epoch int64, fence *Fence) error
	// Demote stops serving at once: listeners close, clients are dropped.
	Demote func(reason string)
	// Local reports the node's state.
	Local func() Local
}

// Options configure an Elector.
type Options struct {
	Name   string
	Keys   Keys
	TTL    time.Duration // requested lease TTL; etcd may grant more
	Margin time.Duration // fence margin
	Client *clientv3.Client
	Log    *slog.Logger
	Callbacks
}

// Timings of the loop.
const (
	statusEvery    = 5 * time.Second        // republish an unchanged status
	progressEvery  = time.Second            // republish a status whose only change is progress (applied index, follower lag)
	pinGrace       = 500 * time.Millisecond // a ready pinned node's head start in an election
	retryBackoff   = 250 * time.Millisecond // after a failed session
	keepAliveRetry = 100 * time.Millisecond // after a failed lease renewal (keepalive.go)
	stopTimeout    = 3 * time.Second        // for the etcd writes of a clean stop
	handoverGrace  = 3 * time.Second        // the named successor's head start after a hand-over
)

// Elector campaigns for leadership and owns every role change of its node.
type Elector struct {
	o       Options
	fence   *Fence
	started time.Time

	role     atomic.Value // Role
	epoch    atomic.Int64
	lastRead atomic.Int64  // unix ns of the last successful read of the cluster state
	late     atomic.Uint64 // lease renewals that landed while the fence was strained
	kick     chan struct{}

	mu         sync.Mutex
	leader     string // last leader seen
	lease      clientv3.LeaseID
	lastPub    NodeStatus
	pubAt      time.Time
	leaderless time.Time           // when no leader was first seen; zero while one leads
	insync     *InSync             // last in-sync set read
	leaderRepl string              // the leader's replication address, as it published it
	hoSeen     map[int64]time.Time // handover revision → when first seen here
	lateWarned time.Time           // when a late renewal was last logged
}

// New returns an elector; Run starts it.
func New(o Options) *Elector {
	e := &Elector{o: o, fence: newFence(o.TTL / strainFraction), started: time.Now(), kick: make(chan struct{}, 1),
		hoSeen: map[int64]time.Time{}}
	e.fence.lag = lagThreshold(o.TTL, o.Margin)
	e.role.Store(RoleFollower)
	return e
}

// Role is the node's current role.
func (e *Elector) Role() Role { return e.role.Load().(Role) }

// Epoch is the epoch this node leads, or the last epoch it saw.
func (e *Elector) Epoch() int64 { return e.epoch.Load() }

// Connected reports whether the elector read the cluster state from etcd
// within the last lease TTL.
func (e *Elector) Connected() bool {
	last := e.lastRead.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < e.o.TTL
}

// Leader is the name of the leader last seen ("" if none).
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

// Fence is the node's fence (valid only while it leads).
func (e *Elector) Fence() *Fence { return e.fence }

// Kick makes the loop re-read the cluster state now (after a local change
// such as the store failing).
func (e *Elector) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Run campaigns until ctx ends, then steps down cleanly: a leader hands
// over to the best ready follower and revokes its lease, so the next
// leader takes over at once instead of after the TTL.
func (e *Elector) Run(ctx context.Context) error {
	for {
		err := e.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		e.o.Log.Warn("election session ended; starting a new one", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryBackoff):
		}
	}
}

// session runs with one lease until the lease is lost or ctx ends.
func (e *Elector) session(ctx context.Context) error {
	lease, err := e.grant(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan struct{})
	go e.keepAlive(sctx, e.renewer(lease), lost)
	go e.watch(sctx)

	status := time.NewTicker(min(statusEvery, e.o.TTL/2))
	defer status.Stop()
	fenceTimer := time.NewTimer(time.Hour)
	defer fenceTimer.Stop()
	for {
		if ctx.Err() != nil {
			e.stop(lease)
			return nil
		}
		e.evaluate(ctx, lease)
		fenceTimer.Reset(e.nextWake())
		select {
		case <-ctx.Done():
		case <-lost:
			e.demote("lease lost")
			return fmt.Errorf("lease %x lost", int64(lease))
		case <-e.kick:
		case <-status.C:
		case <-fenceTimer.C:
		}
	}
}

// nextWake is when the loop must look again without any event: at the
// fence deadline while leading, or when a grace period ends.
func (e *Elector) nextWake() time.Duration {
	d := time.Second
	if e.Role() == RoleLeader {
		d = min(d, max(e.fence.Remaining(), time.Millisecond))
	}
	return d
}

func (e *Elector) grant(ctx context.Context) (clientv3.LeaseID, error) {
	ttl := int64((e.o.TTL + time.Second - 1) / time.Second)
	gctx, cancel := context.WithTimeout(ctx, e.o.TTL)
	defer cancel()
	t0 := time.Now()
	resp, err := e.o.Client.Grant(gctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	e.fence.reset()
	e.fence.extend(t0.Add(time.Duration(resp.TTL)*time.Second - e.o.Margin))
	e.mu.Lock()
	e.lease = resp.ID
	e.lastPub = NodeStatus{}
	e.mu.Unlock()
	e.o.Log.Info("lease granted", "lease", fmt.Sprintf("%x", int64(resp.ID)), "ttl_s", resp.TTL)
	return resp.ID, nil
}

// strainFraction: the fence is strained (client reads pause) when less
// than TTL/strainFraction is left before it.
const strainFraction = 4

// lateWarnEvery bounds the warnings about late renewals.
const lateWarnEvery = 10 * time.Second

// LateRenewals counts lease renewals that landed while the fence was
// strained (see Fence).
func (e *Elector) LateRenewals() uint64 { return e.late.Load() }

// lateRenewal counts a renewal that landed while the fence was strained
// and says so, at most every lateWarnEvery (a saturated leader is late at
// every renewal).
func (e *Elector) lateRenewal(rtt, left time.Duration) {
	n := e.late.Add(1)
	now := time.Now()
	e.mu.Lock()
	due := now.Sub(e.lateWarned) >= lateWarnEvery
	if due {
		e.lateWarned = now
	}
	e.mu.Unlock()
	if due {
		e.o.Log.Warn("lease renewal landed late; client reads were paused until it did (is this node's CPU saturated?)",
			"round_trip", rtt.Round(time.Millisecond), "fence_left", left.Round(time.Millisecond), "late_renewals", n)
	}
}

// watch kicks the loop on every change under the cluster prefix.
func (e *Elector) watch(ctx context.Context) {
	for ctx.Err() == nil {
		wch := e.o.Client.Watch(clientv3.WithRequireLeader(ctx), e.o.Keys.Prefix, clientv3.WithPrefix())
		for resp := range wch {
			if resp.Err() != nil {
				e.o.Log.Debug("watch", "error", resp.Err())
			}
			e.Kick()
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryBackoff):
		}
	}
}

// evaluate reads the cluster state and acts on it.
func (e *Elector) evaluate(ctx context.Context, lease clientv3.LeaseID) {
	if e.Role() == RoleLeader && !e.fence.Valid() {
		e.demote("lease deadline passed (self-fencing)")
	}
	rctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
	st, err := readState(rctx, e.o.Client, e.o.Keys)
	cancel()
	if err != nil {
		e.o.Log.Debug("cannot read cluster state", "error", err)
		return
	}
	e.lastRead.Store(time.Now().UnixNano())
	e.mu.Lock()
	e.insync = st.insync
	e.leader, e.leaderRepl = "", ""
	if st.leader != nil {
		e.leader = st.leader.Node
		if ns, ok := st.nodes[st.leader.Node]; ok {
			e.leaderRepl = ns.Repl
		}
		e.leaderless = time.Time{}
	} else if e.leaderless.IsZero() {
		e.leaderless = time.Now()
	}
	e.mu.Unlock()
	if e.Role() == RoleLeader {
		e.lead(ctx, st)
	} else {
		e.follow(ctx, st, lease)
	}
	e.publish(ctx, st, lease)
}

func (e *Elector) demote(reason string) {
	if e.Role() != RoleLeader {
		return
	}
	e.fence.setLeader(false)
	e.role.Store(RoleFollower)
	e.o.Log.Warn("stepping down", "epoch", e.epoch.Load(), "reason", reason)
	e.o.Demote(reason)
	e.Kick()
}

// localStatus is the record this node publishes.
func (e *Elector) localStatus(lease clientv3.LeaseID) NodeStatus {
	// The record first, then the applied index: what the record says this
	// node acknowledged it had applied before, so an intact node always
	// holds it (read the other way round, a record written in between
	// would make it look incomplete for a moment).
	e.mu.Lock()
	insync := e.insync
	e.mu.Unlock()
	l := e.o.Local()
	complete := insync.Holds(e.o.Name, l.Applied)
	return NodeStatus{Name: e.o.Name, Role: e.Role(), Epoch: e.epoch.Load(), Healthy: l.Healthy,
		InSync: l.InSync && complete, Applied: l.Applied, Version: version.Version, MQTT: l.MQTT, HTTP: l.HTTP,
		Repl: l.Repl, Mode: l.Mode, Lease: int64(lease), PID: os.Getpid(), Started: e.started, Followers: l.Followers}
}

// publish writes the node's status when it changed, or when it was last
// written statusEvery ago. A leader's write is guarded by its epoch.
func (e *Elector) publish(ctx context.Context, st *clusterState, lease clientv3.LeaseID) {
	ns := e.localStatus(lease)
	e.mu.Lock()
	since := time.Since(e.pubAt)
	same := statusEqual(ns, e.lastPub, true) &&
		(since < progressEvery || statusEqual(ns, e.lastPub, false)) && since < statusEvery
	e.mu.Unlock()
	if _, present := st.nodes[e.o.Name]; same && present {
		return
	}
	ns.Updated = time.Now().UTC()
	b, err := json.Marshal(ns)
	if err != nil {
		e.o.Log.Error("encode status", "error", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
	defer cancel()
	put := clientv3.OpPut(e.o.Keys.Node(e.o.Name), string(b), clientv3.WithLease(lease))
	if ns.Role == RoleLeader {
		resp, err := e.o.Client.Txn(pctx).If(e.guard()).Then(put).Commit()
		if err == nil && !resp.Succeeded {
			e.demote("epoch superseded")
			return
		}
		if err != nil {
			e.o.Log.Debug("publish status", "error", err)
			return
		}
	} else if _, err := e.o.Client.Do(pctx, put); err != nil {
		e.o.Log.Debug("publish status", "error", err)
		return
	}
	e.mu.Lock()
	e.lastPub, e.pubAt = ns, time.Now()
	e.mu.Unlock()
}

// statusEqual compares two statuses but for the time of writing, and
// with ignoreProgress also but for the applied index and the followers'
// report. Progress alone is published at most every progressEvery: under
// load the applied index changes at every look, and every status write
// makes every node look again (the watch), which would otherwise be a
// loop of etcd writes as fast as etcd commits them.
func statusEqual(a, b NodeStatus, ignoreProgress bool) bool {
	a.Updated, b.Updated = time.Time{}, time.Time{}
	if ignoreProgress {
		a.Applied, b.Applied = 0, 0
		a.Followers, b.Followers = nil, nil
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// LeaderReplication is the current leader's name and replication address
// as last seen ("" when unknown).
func (e *Elector) LeaderReplication() (leader, addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader, e.leaderRepl
}

// InSyncSet is the in-sync set last read (nil: none).
func (e *Elector) InSyncSet() *InSync {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.insync
}

// PublishInSync writes the in-sync set as the leader of epoch, guarded by
// the epoch. It fails if this node no longer leads that epoch.
//
// applied is the index the leader has durable and each member has
// acknowledged (see InSync.Applied); nil writes none.
func (e *Elector) PublishInSync(ctx context.Context, epoch int64, members []string, applied map[string]uint64) error {
	rec := InSync{Epoch: epoch, Leader: e.o.Name, Members: members, Applied: applied}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
	defer cancel()
	guard := clientv3.Compare(clientv3.CreateRevision(e.o.Keys.Leader()), "=", epoch)
	resp, err := e.o.Client.Txn(pctx).If(guard).Then(clientv3.OpPut(e.o.Keys.InSync(), string(b))).Commit()
	if err != nil {
		return fmt.Errorf("publish in-sync set: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("publish in-sync set: epoch %d superseded", epoch)
	}
	e.mu.Lock()
	e.insync = &rec
	e.mu.Unlock()
	return nil
}

// guard is the condition of every write a leader makes: its leader key is
// still the one it created.
func (e *Elector) guard() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(e.o.Keys.Leader()), "=", e.epoch.Load())
}

// stop is the clean exit: hand over, then revoke the lease (which deletes
// the leader key and the status record at once).
func (e *Elector) stop(lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if e.Role() == RoleLeader {
		to := ""
		if st, err := readState(ctx, e.o.Client, e.o.Keys); err == nil {
			to = st.bestFollower(e.o.Name)
		}
		e.handover(ctx, to, "shutdown")
	}
	e.role.Store(RoleStopping)
	if _, err := e.o.Client.Revoke(ctx, lease); err != nil {
		e.o.Log.Warn("revoke lease on exit", "error", err)
		return
	}
	e.o.Log.Info("lease revoked", "lease", fmt.Sprintf("%x", int64(lease)))
}
