package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/sync"
	"github.com/triadmq/triad/sync/state"
)

// shedEvery is how often a leader checks that etcd's raft leader is
// elsewhere.
const shedEvery = 2 * time.Second

// shedDelay is how long a new leader waits before its first check.
const shedDelay = 200 * time.Millisecond

// newElector creates the etcd client (which connects lazily) and the
// elector, before the HTTP endpoints start, so that they can read them.
func (n *Node) newElector() error {
	c := n.cfg.Cluster
	if c.Replication != nil {
		store, err := openStore(n)
		if err != nil {
			return err
		}
		protocol, err := replicationProtocol()
		if err != nil {
			return errors.Join(err, store.Close())
		}
		if protocol != (sync.ProtocolRange{}) {
			n.log.Warn("this binary speaks a replication protocol set at link time (tests of mixed versions)", "protocol", protocol.String())
		}
		n.store, n.repl = store, &replica{n: n, protocol: protocol}
		n.applied = store.Applied()
		if c.Replication.Insecure {
			n.log.Warn("replication runs in plaintext without authentication (cluster.replication.insecure: true): anyone who reaches its address can read the state or pose as a follower; use it on one test machine only",
				"address", c.Replication.Address)
		}
	} else {
		applied, err := localApplied(n.cfg.Node.DataDir)
		if err != nil {
			return err
		}
		n.applied = applied
	}
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
	if n.repl != nil {
		n.repl.follow()
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
	if n.dm != nil {
		return n.dm.promote(epoch, fence) // the node serves MQTT already
	}
	var b *broker.Broker
	if n.repl != nil {
		n.repl.unfollow() // the store is the committer's from now on
		opts, log := n.repl.options(epoch, fence)
		var err error
		if b, err = broker.OpenWith(n.cfg, n.log, opts); err != nil {
			n.repl.follow()
			return err
		}
		if err := n.repl.lead(epoch, log); err != nil {
			n.repl.unlead()
			n.repl.follow()
			return fmt.Errorf("replication: %w (close broker: %v)", err, b.Close())
		}
	} else {
		var err error
		if b, err = broker.OpenWith(n.cfg, n.log, broker.Options{Fence: fence, OnDynsecChange: n.mirror.write}); err != nil {
			return err
		}
	}
	if err := b.Start(ctx); err != nil {
		err = fmt.Errorf("start broker: %w (close: %v)", err, b.Close())
		if n.repl != nil {
			n.repl.unlead()
			n.repl.follow()
		}
		return err
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
	// First let the new leader's own etcd writes (history, in-sync set)
	// through, as etcd drops proposals during a transfer; they retry, so
	// the wait can be short, which keeps the window in which a crash of
	// this host also costs an etcd election short.
	select {
	case <-done:
		return
	case <-time.After(shedDelay):
	}
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
	if n.dm != nil {
		n.dm.demote() // the node's clients stay: they are its own
		return
	}
	b := n.takeBroker()
	if b == nil {
		return
	}
	if err := b.Close(); err != nil {
		n.log.Error("close broker on stepping down", "error", err)
	}
	n.log.Info("stopped serving MQTT", "reason", reason)
	if n.repl != nil {
		n.repl.unlead()
		if !n.stopping.Load() {
			n.repl.follow()
		}
	}
}

// local reports this node's state to the elector.
func (n *Node) local() election.Local {
	l := election.Local{Healthy: n.healthy(), HTTP: n.HTTPAddr()}
	l.InSync = l.Healthy // until replication: a healthy node has all it can have
	n.mu.Lock()
	l.Applied = n.applied
	b := n.b
	n.mu.Unlock()
	switch {
	case n.dm != nil: // the broker's store is its own; the replicated one is the log's
		if idx, leading := n.dm.leaderApplied(); leading {
			l.Applied = idx
			l.Followers = n.repl.followerStatus()
		}
	case b != nil:
		l.Applied = b.AppliedIndex()
		l.Followers = n.repl.followerStatus() // nil without replication
	}
	if r := n.cfg.Cluster.Replication; r != nil {
		l.Repl = r.Advertise
	}
	l.Mode = n.cfg.Cluster.Mode
	for _, lc := range n.cfg.MQTT.Listeners {
		l.MQTT = append(l.MQTT, lc.Address)
	}
	sort.Strings(l.MQTT)
	return l
}
