package node

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/sync/state"
)

// shedEvery is how often a leader checks that etcd's raft leader is
// elsewhere.
const shedEvery = 2 * time.Second

// newElector creates the etcd client (which connects lazily) and the
// elector, before the HTTP endpoints start, so that they can read them.
func (n *Node) newElector() error {
	c := n.cfg.Cluster
	applied, err := localApplied(n.cfg.Node.DataDir)
	if err != nil {
		return err
	}
	n.applied = applied
	cli, err := election.NewClient(election.OptionsFromConfig(c))
	if err != nil {
		return err
	}
	n.cli = cli
	n.el = election.New(election.Options{
		Name: n.cfg.Node.Name, Keys: election.NewKeys(c.Name),
		TTL: c.LeaseTTL.D(), Margin: c.FenceMargin.D(),
		Client: cli, Log: n.log.With("component", "election"),
		Callbacks: election.Callbacks{Promote: n.promote, Demote: n.demote, Local: n.local},
	})
	return nil
}

// startCluster starts the embedded etcd member, if configured (it returns
// once the member has joined a quorum), then the elector.
func (n *Node) startCluster(ctx context.Context) error {
	if e := n.cfg.Cluster.Etcd.Embedded; e != nil {
		m, err := election.StartMember(ctx, n.cfg.Node.Name, e, n.log.With("component", "etcd"))
		if err != nil {
			return err
		}
		n.member = m
		go func() {
			if err, ok := <-m.Err(); ok && err != nil && !n.stopping.Load() {
				n.fail(fmt.Errorf("node: etcd member: %w", err))
			}
		}()
	}
	ectx, cancel := context.WithCancel(context.Background())
	n.elCancel, n.elDone = cancel, make(chan struct{})
	go func() {
		defer close(n.elDone)
		if err := n.el.Run(ectx); err != nil {
			n.fail(fmt.Errorf("node: election: %w", err))
		}
	}()
	return nil
}

// localApplied reads the applied index of the local state.
func localApplied(dir string) (uint64, error) {
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		return 0, err
	}
	applied := s.Applied()
	if err := s.Close(); err != nil {
		return 0, err
	}
	return applied, nil
}

// promote opens a fresh broker over the local state and serves it, every
// client connection checking the fence.
func (n *Node) promote(ctx context.Context, epoch int64, fence *election.Fence) error {
	if n.stopping.Load() {
		return fmt.Errorf("node is stopping")
	}
	b, err := broker.Open(n.cfg, n.log)
	if err != nil {
		return err
	}
	b.SetFence(fence)
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("start broker: %w (close: %v)", err, b.Close())
	}
	done := n.setBroker(b)
	n.log.Info("serving MQTT as leader", "epoch", epoch, "mqtt", b.ListenerAddrs())
	if n.member != nil {
		go n.shedRaftLeadership(done)
	}
	return nil
}

// shedRaftLeadership keeps etcd's raft leadership off this node while it
// leads (see election.Member.ShedRaftLeadership), until done is closed.
func (n *Node) shedRaftLeadership(done <-chan struct{}) {
	t := time.NewTicker(shedEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), shedEvery)
		if err := n.member.ShedRaftLeadership(ctx); err != nil {
			n.log.Debug("etcd raft leadership stays here", "error", err)
		}
		cancel()
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// demote stops serving: listeners close, clients are dropped (the fence
// has already stopped their traffic), state is flushed.
func (n *Node) demote(reason string) {
	b := n.takeBroker()
	if b == nil {
		return
	}
	if err := b.Close(); err != nil {
		n.log.Error("close broker on stepping down", "error", err)
	}
	n.log.Info("stopped serving MQTT", "reason", reason)
}

// local reports this node's state to the elector.
func (n *Node) local() election.Local {
	l := election.Local{Healthy: n.healthy(), HTTP: n.HTTPAddr()}
	l.InSync = l.Healthy // until replication: a healthy node has all it can have
	n.mu.Lock()
	l.Applied = n.applied
	b := n.b
	n.mu.Unlock()
	if b != nil {
		l.Applied = b.Status().AppliedIndex
	}
	for _, lc := range n.cfg.MQTT.Listeners {
		l.MQTT = append(l.MQTT, lc.Address)
	}
	sort.Strings(l.MQTT)
	return l
}
