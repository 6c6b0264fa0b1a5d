package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	gosync "sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/dynsec"
	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/sync"
	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// cluster.mode dynsec: every node serves MQTT from its own broker over
// its own store (<data_dir>/local: sessions, queues and retained messages
// stay on the node). The replicated store (<data_dir>/state.db) holds the
// dynamic-security configuration alone; the elected leader runs every
// control request, whichever node's client sent it, appends the change to
// its log and answers once the change is durable on the quorum, as in full
// mode. Each node's broker takes the configuration as it is applied there
// (ApplyDynsec), with whose connections to close.

// localDir is where a dynsec-mode node's broker keeps its own state.
const localDir = "local"

// dynsecMode is a dynsec-mode node's part: the broker's DynsecAuthority.
type dynsecMode struct {
	n   *Node
	ctl dynsec.Controller

	mu      gosync.Mutex
	file    []byte        // the cluster's configuration as applied here; nil: none yet
	idx     uint64        // the index it was applied at
	advance chan struct{} // closed (and replaced) when idx advances
	lead    *dynsecLeader // while this node leads
}

// dynsecLeader runs the control requests while the node leads.
type dynsecLeader struct {
	c     *state.Committer
	d     broker.Durability // what an answer waits for: the quorum (or the local disk with replication.mode async)
	fence *election.Fence

	mu  gosync.Mutex // one request at a time, each on the configuration the previous one left
	cfg *dynsec.Config
}

var _ broker.DynsecAuthority = (*dynsecMode)(nil)

// startDynsecMode reads the replicated configuration, then opens and
// starts the node's own broker.
func (n *Node) startDynsecMode(ctx context.Context) error {
	snap, err := n.store.Load()
	if err != nil {
		return fmt.Errorf("node: read the replicated state: %w", err)
	}
	d := &dynsecMode{n: n, file: snap.Dynsec, idx: snap.Applied, advance: make(chan struct{})}
	n.dm = d
	b, err := broker.OpenWith(n.cfg, n.log, broker.Options{Dir: filepath.Join(n.cfg.Node.DataDir, localDir), Authority: d})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return errors.Join(err, b.Close())
	}
	n.setBroker(b)
	// A change applied between the broker's reading of Config and now
	// went to no broker.
	d.mu.Lock()
	file, idx := d.file, d.idx
	d.mu.Unlock()
	if idx != snap.Applied && file != nil {
		if err := b.ApplyDynsec(idx, file, nil, n.cfg.Node.Name); err != nil {
			n.log.Error("dynamic-security configuration not applied", "index", idx, "error", err)
		}
	}
	n.log.Info("serving MQTT (cluster.mode dynsec: sessions, queues and retained messages are local to this node)",
		"mqtt", b.ListenerAddrs())
	return nil
}

// Config is the cluster's configuration as applied on this node.
func (d *dynsecMode) Config() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.file
}

// Control runs a control request of a client of this node: on this node
// if it leads, else on the leader, whose change is then awaited here.
func (d *dynsecMode) Control(ctx context.Context, req broker.ControlRequest) ([]byte, error) {
	n := d.n
	pr := &pb.ControlRequest{Cluster: n.cfg.Cluster.Name, Node: n.cfg.Node.Name, Username: req.Username,
		ClientId: req.ClientID, Payload: req.Payload}
	if n.el.Role() == election.RoleLeader {
		resp, err := d.run(ctx, pr)
		if err != nil {
			return nil, err
		}
		return resp.Response, nil
	}
	leader, addr := n.el.LeaderReplication()
	if leader == "" || leader == n.cfg.Node.Name || addr == "" {
		return nil, errors.New("no leader known")
	}
	conn, err := n.repl.dial(leader, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := pb.NewReplicationClient(conn).Control(ctx, pr)
	if err != nil {
		return nil, fmt.Errorf("leader %s: %w", leader, err)
	}
	if err := d.waitApplied(ctx, resp.Index); err != nil {
		return nil, fmt.Errorf("change %d made by leader %s, not yet applied here: %w", resp.Index, leader, err)
	}
	return resp.Response, nil
}

// waitApplied waits until the configuration of index idx (or a later
// one) is applied here.
func (d *dynsecMode) waitApplied(ctx context.Context, idx uint64) error {
	for {
		d.mu.Lock()
		done, adv := d.idx >= idx, d.advance
		d.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-adv:
		}
	}
}

// run carries out a control request as the leader (sync.ControlFunc).
func (d *dynsecMode) run(ctx context.Context, req *pb.ControlRequest) (*pb.ControlResponse, error) {
	d.mu.Lock()
	l := d.lead
	d.mu.Unlock()
	if l == nil {
		return nil, status.Error(codes.FailedPrecondition, "this node does not lead")
	}
	// Requests are run one at a time, each on the configuration the
	// previous one left; the wait for durability is not under the lock,
	// so that stepping down never waits for it.
	l.mu.Lock()
	if !l.fence.Valid() {
		l.mu.Unlock()
		return nil, status.Error(codes.FailedPrecondition, "this node's leadership lapsed")
	}
	res := d.ctl.Handle(l.cfg, req.Payload)
	if res.Err != nil {
		d.n.log.Error("dynamic-security request failed", "node", req.Node, "client", req.ClientId, "error", res.Err)
	}
	if !res.Changed {
		l.mu.Unlock()
		return &pb.ControlResponse{Response: res.Response}, nil
	}
	file := res.Config.MarshalFile()
	kicks := &state.DynsecKicks{Usernames: res.Kicks.Usernames, Anonymous: res.Kicks.Anonymous}
	if res.Kicks.SpareRequester {
		kicks.SpareNode, kicks.SpareClient = req.Node, req.ClientId
	}
	idx, err := l.c.Append(state.Op{Kind: state.OpDynsecPut, Dynsec: file, Kicks: kicks})
	if err != nil {
		l.mu.Unlock()
		return nil, status.Errorf(codes.Unavailable, "the change was not recorded: %v", err)
	}
	l.cfg = res.Config // the log holds it: the next request starts from it
	l.mu.Unlock()
	d.n.log.Info("dynamic-security configuration changed", "by", req.Username, "client", req.ClientId,
		"node", req.Node, "index", idx, "clients", len(res.Config.Clients))
	if err := waitDurable(ctx, l.d, idx); err != nil {
		return nil, status.Errorf(codes.Unavailable, "change %d recorded, not yet durable on the quorum: %v", idx, err)
	}
	d.applied(idx, file, kicks)
	return &pb.ControlResponse{Response: res.Response, Index: idx}, nil
}

// waitDurable waits until idx is durable by dur.
func waitDurable(ctx context.Context, dur broker.Durability, idx uint64) error {
	for dur.Durable() < idx {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-dur.Failed():
			return dur.Err()
		case <-dur.Changed():
		}
	}
	return nil
}

// applied takes the configuration file applied at idx: the mirror file,
// the broker (closing the connections kicks names) and the waiters.
func (d *dynsecMode) applied(idx uint64, file []byte, kicks *state.DynsecKicks) {
	d.mu.Lock()
	if idx < d.idx {
		// A later configuration was applied first (two requests on the
		// leader): only this change's kicks are still to do.
		idx, file = d.idx, d.file
	}
	d.file, d.idx = file, idx
	close(d.advance)
	d.advance = make(chan struct{})
	d.mu.Unlock()
	d.n.mirror.write(idx, file)
	if b := d.n.broker(); b != nil {
		if err := b.ApplyDynsec(idx, file, kicks, d.n.cfg.Node.Name); err != nil {
			d.n.log.Error("dynamic-security configuration not applied", "index", idx, "error", err)
		}
	}
}

// onReplicatedDynsec receives a follower's applied configurations.
func (n *Node) onReplicatedDynsec(idx uint64, file []byte, kicks *state.DynsecKicks) {
	if n.dm != nil {
		n.dm.applied(idx, file, kicks)
		return
	}
	n.mirror.write(idx, file)
}

// promoteDynsec makes this node the dynsec-mode leader of epoch: the log
// over the replicated store, the stream server, and the control requests.
// A cluster without a configuration yet is seeded from dynsec.file.
func (d *dynsecMode) promote(epoch int64, fence *election.Fence) error {
	n, r := d.n, d.n.repl
	r.unfollow() // the store is the committer's from now on
	log := sync.NewLog(n.store.Applied(), n.store.AppliedEpoch(), logMaxEntries, logMaxBytes)
	c := state.NewCommitter(n.store, state.CommitterOptions{
		MaxBatch: n.cfg.Store.MaxBatch,
		OnAppend: log.Add,
		OnFail:   func(err error) { n.fail(fmt.Errorf("node: replicated store failed: %w", err)) },
	})
	c.SetEpoch(epoch)
	l := &dynsecLeader{c: c, d: r.quorumOver(c), fence: fence}
	fail := func(err error) error {
		r.unlead()
		err = errors.Join(err, c.Close())
		r.follow()
		return err
	}
	snap, err := n.store.Load()
	if err != nil {
		return fail(fmt.Errorf("read the replicated state: %w", err))
	}
	// The replicated configuration, else dynsec.file's (seed: to be
	// recorded for the cluster), else an empty one.
	cfg, seed, _, _, err := broker.LoadDynsec(snap.Dynsec, n.cfg.Dynsec.File)
	if err != nil {
		return fail(err)
	}
	l.cfg = cfg
	r.onControl = d.run
	if err := r.lead(epoch, log); err != nil {
		return fail(fmt.Errorf("replication: %w", err))
	}
	d.mu.Lock()
	d.lead = l
	d.mu.Unlock()
	if seed != nil {
		idx, err := c.Append(state.Op{Kind: state.OpDynsecPut, Dynsec: seed})
		if err != nil {
			d.demote()
			return fmt.Errorf("record the dynamic-security configuration of %s: %w", n.cfg.Dynsec.File, err)
		}
		n.log.Info("dynamic-security configuration recorded for the cluster", "from", n.cfg.Dynsec.File, "index", idx)
		go func() { // applied here once durable; a lost leadership leaves it to the next leader
			ctx, cancel := context.WithTimeout(context.Background(), controlTimeoutSeed)
			defer cancel()
			if waitDurable(ctx, l.d, idx) == nil {
				d.applied(idx, seed, nil)
			}
		}()
	}
	n.log.Info("leading the cluster's dynamic-security configuration", "epoch", epoch)
	return nil
}

// controlTimeoutSeed bounds the wait for the seed configuration's
// durability.
const controlTimeoutSeed = time.Minute

// demote ends this node's leadership of the configuration: no more
// control requests, the log flushed and the stream server stopped, then
// the node follows again.
func (d *dynsecMode) demote() {
	d.mu.Lock()
	l := d.lead
	d.lead = nil
	d.mu.Unlock()
	if l == nil {
		return
	}
	l.mu.Lock() // a request being recorded is recorded first
	defer l.mu.Unlock()
	r := d.n.repl
	if err := l.c.Close(); err != nil {
		d.n.log.Error("flush the replicated state on stepping down", "error", err)
	}
	r.unlead()
	r.onControl = nil
	if !d.n.stopping.Load() {
		r.follow()
	}
}

// leaderApplied is the durable index of the log while this node leads;
// ok is false otherwise.
func (d *dynsecMode) leaderApplied() (idx uint64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lead == nil {
		return 0, false
	}
	return d.lead.c.Durable(), true
}
