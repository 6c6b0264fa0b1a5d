package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	gosync "sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/sync"
	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// Replication timings and bounds.
const (
	followRetry      = 200 * time.Millisecond // between attempts to stream from the leader
	leaderCheckEvery = 50 * time.Millisecond  // how often a follower checks that it streams from the leader
	inSyncEvery      = 100 * time.Millisecond // how often the leader reviews the in-sync set
	inSyncRefresh    = 2 * time.Second        // how often an unchanged set is rewritten with recent indexes
	logMaxEntries    = 100_000                // entries the leader keeps for followers that are behind
	logMaxBytes      = 256 << 20
	replStopTimeout  = time.Second // how long a stepping-down leader waits for its in-sync followers
)

// replica is the replication state of a cluster node with
// cluster.replication: the follower loop while it follows, the leader's
// stream server and in-sync manager while it leads.
type replica struct {
	n         *Node
	protocol  sync.ProtocolRange // zero: this release's
	onControl sync.ControlFunc   // cluster.mode dynsec: the leader runs the nodes' control requests

	mu         gosync.Mutex
	stopFollow context.CancelFunc
	followDone chan struct{}

	// while leading
	srv      *grpc.Server
	quorum   *sync.Quorum
	stopSync context.CancelFunc
	syncDone chan struct{}
}

// leaderQuorum is the quorum while this node leads, else nil.
func (r *replica) leaderQuorum() *sync.Quorum {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.quorum
}

// follow starts the follower loop (no-op if it runs).
func (r *replica) follow() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopFollow != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.stopFollow, r.followDone = cancel, done
	go func() {
		defer close(done)
		r.followLoop(ctx)
	}()
}

// unfollow stops the follower loop and waits until it no longer touches
// the store.
func (r *replica) unfollow() {
	r.mu.Lock()
	cancel, done := r.stopFollow, r.followDone
	r.stopFollow, r.followDone = nil, nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (r *replica) followLoop(ctx context.Context) {
	n := r.n
	log := n.log.With("component", "replication")
	f := &sync.Follower{Cluster: n.cfg.Cluster.Name, Node: n.cfg.Node.Name, Store: n.store, Log: log, Protocol: r.protocol,
		Metrics: n.metrics.follower, OnDynsec: n.onReplicatedDynsec,
		OnApplied: func(a uint64) {
			n.mu.Lock()
			n.applied = a
			n.mu.Unlock()
		},
		OnStore: n.setStoreErr,
	}
	lastLeader := ""
	for ctx.Err() == nil {
		leader, addr := n.el.LeaderReplication()
		if leader != "" && leader != n.cfg.Node.Name && addr != "" {
			err := r.streamFrom(ctx, f, leader, addr)
			if ctx.Err() == nil {
				if leader != lastLeader {
					log.Info("replication stream ended", "leader", leader, "address", addr, "error", err)
				} else {
					log.Debug("replication stream ended", "leader", leader, "address", addr, "error", err)
				}
				lastLeader = leader
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(followRetry):
		}
	}
}

// dial makes a connection to leader's replication server at addr, with
// mTLS unless the configuration says insecure.
func (r *replica) dial(leader, addr string) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if t := r.n.cfg.Cluster.Replication.TLS; t != nil {
		var err error
		creds, err = sync.ClientCredentials(sync.TLSFiles{CA: t.CA, Cert: t.Cert, Key: t.Key}, r.n.cfg.Cluster.Name, leader)
		if err != nil {
			return nil, err
		}
	}
	conn, err := grpc.NewClient(addr, sync.DialOptions(creds)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

func (r *replica) streamFrom(ctx context.Context, f *sync.Follower, leader, addr string) error {
	conn, err := r.dial(leader, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go r.leaveOnLeaderChange(ctx, cancel, leader)
	return f.Run(ctx, pb.NewReplicationClient(conn))
}

// errLeaderChanged ends a stream from a node that no longer leads.
var errLeaderChanged = errors.New("another node leads now")

// leaveOnLeaderChange cancels a stream from leader once the election shows
// another leader. A frozen leader (SIGSTOP, a stalled host) keeps its TCP
// connections open and sends nothing, so the stream would not end by
// itself; meanwhile the new leader, which carries this node in its in-sync
// set, would hold every acknowledgement until it dropped the node as
// silent (ack_timeout).
func (r *replica) leaveOnLeaderChange(ctx context.Context, cancel context.CancelCauseFunc, leader string) {
	t := time.NewTicker(leaderCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if now, _ := r.n.el.LeaderReplication(); now != "" && now != leader {
				cancel(fmt.Errorf("%w (%s)", errLeaderChanged, now))
				return
			}
		}
	}
}

// serverOptions secure the leader's stream server with mTLS unless the
// configuration says insecure.
func (r *replica) serverOptions(log *slog.Logger) []grpc.ServerOption {
	t := r.n.cfg.Cluster.Replication.TLS
	if t == nil {
		return nil
	}
	files := sync.TLSFiles{CA: t.CA, Cert: t.Cert, Key: t.Key}
	return []grpc.ServerOption{
		grpc.Creds(sync.ServerCredentials(files, r.n.cfg.Cluster.Name, log)),
		grpc.StreamInterceptor(sync.IdentityInterceptor(log)),
	}
}

// options are the broker options of a replicating leader of epoch; start
// must be called once the broker is open.
func (r *replica) options(epoch int64, fence broker.Fence) (broker.Options, *sync.Log) {
	n := r.n
	log := sync.NewLog(n.store.Applied(), n.store.AppliedEpoch(), logMaxEntries, logMaxBytes)
	opts := broker.Options{Store: n.store, Fence: fence, Epoch: epoch, OnAppend: log.Add, OnDynsecChange: n.mirror.write,
		Durability: r.quorumOver}
	return opts, log
}

// quorumOver makes the leader's quorum over its local durability and
// returns what acknowledgements wait for.
func (r *replica) quorumOver(local broker.Durability) broker.Durability {
	rc := r.n.cfg.Cluster.Replication
	q := sync.NewQuorum(local, rc.NoFollower == "block", r.n.log.With("component", "replication"))
	r.mu.Lock()
	r.quorum = q
	r.mu.Unlock()
	if rc.Mode == "async" {
		return local // the quorum still tracks the in-sync set: who may campaign
	}
	return q
}

// lead serves the replication stream and runs the in-sync manager for the
// leader of epoch. Followers in the previous in-sync set stay in it: they
// hold every acknowledged entry, and acknowledgements wait for them until
// they catch up or time out.
func (r *replica) lead(epoch int64, log *sync.Log) error {
	n := r.n
	rc := n.cfg.Cluster.Replication
	lg := n.log.With("component", "replication")
	var carried []string
	prev := n.el.InSyncSet()
	if prev != nil {
		// The previous leader is not carried: new acknowledgements need
		// not wait for it, and without them it may no longer campaign.
		carried = slices.DeleteFunc(slices.Clone(prev.Members), func(m string) bool { return m == n.cfg.Node.Name })
	}
	slices.Sort(carried)
	for _, m := range carried {
		r.quorum.Add(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	publish := func(members []string) error {
		return n.el.PublishInSync(ctx, epoch, members, r.quorum.Applied(n.cfg.Node.Name, members))
	}
	deadline := time.Now().Add(n.cfg.Cluster.LeaseTTL.D())
	// A cluster that never had an in-sync set (a new one) gets one when
	// the first follower catches up: until then every node may campaign,
	// as none holds anything the others lack but what this leader
	// acknowledges alone (no_follower: continue says it may).
	for prev != nil || len(carried) > 0 { // etcd drops proposals while its raft leadership moves: retry a little
		err := publish(carried)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			return err
		}
		time.Sleep(followRetry / 4)
	}
	ln, err := net.Listen("tcp", rc.Address)
	if err != nil {
		cancel()
		return fmt.Errorf("replication listener on %s: %w", rc.Address, err)
	}
	leader := sync.NewLeader(n.cfg.Cluster.Name, epoch, n.store, log, lg, r.quorum.Ack)
	leader.OnHello = r.quorum.Rejoined
	leader.OnControl = r.onControl
	leader.Protocol = r.protocol
	r.srv = grpc.NewServer(r.serverOptions(lg)...)
	pb.RegisterReplicationServer(r.srv, leader)
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			lg.Error("replication server", "error", err)
		}
	}()
	done := make(chan struct{})
	r.stopSync, r.syncDone = cancel, done
	m := &sync.InSyncManager{Quorum: r.quorum, Timeout: rc.AckTimeout.D(), Publish: publish, Log: lg, Refresh: inSyncRefresh}
	go func() {
		defer close(done)
		t := time.NewTicker(inSyncEvery)
		defer t.Stop()
		for {
			m.Step(leader.Connected(), time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	lg.Info("serving replication", "address", ln.Addr().String(), "epoch", epoch, "in_sync", carried)
	return nil
}

// unlead stops the replication server and the in-sync manager. It first
// gives the in-sync followers a moment to receive what the stopped broker
// flushed last, so that the successor of a clean hand-over continues the
// log instead of diverging from it.
func (r *replica) unlead() {
	if r.stopSync != nil {
		r.stopSync()
		<-r.syncDone
		r.stopSync, r.syncDone = nil, nil
	}
	if r.quorum != nil {
		deadline := time.Now().Add(replStopTimeout)
		for time.Now().Before(deadline) && !r.quorum.AllAcked() {
			select {
			case <-r.quorum.Changed():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if r.srv != nil {
		r.srv.Stop() // followers' streams never end by themselves
		r.srv = nil
	}
	r.mu.Lock()
	q := r.quorum
	r.quorum = nil
	r.mu.Unlock()
	if q != nil {
		q.Close()
	}
}

// openStore opens the node's store for the whole life of a replicating
// cluster node, after reading every page of it: a damaged file is refused
// with what to do about it.
func openStore(n *Node) (*state.Store, error) {
	s, err := state.Open(n.cfg.Node.DataDir, state.Options{NoSync: n.cfg.Store.NoSync, Verify: true})
	if errors.Is(err, state.ErrCorrupt) {
		return nil, fmt.Errorf("%w; this node will not start on it. Re-seed it from the leader: on this machine run `triadctl reinit %s --config <this node's triad.yaml>` (the damaged file is kept aside), then start triad again",
			err, n.cfg.Node.Name)
	}
	return s, err
}
