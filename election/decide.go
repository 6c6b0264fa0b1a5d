package election

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// lead is one look at the cluster by the leader.
func (e *Elector) lead(ctx context.Context, st *clusterState) {
	me := e.o.Name
	if st.leader == nil || st.epoch != e.epoch.Load() || st.leader.Node != me {
		e.demote("epoch superseded")
		return
	}
	if !e.o.Local().Healthy {
		e.handover(ctx, st.bestFollower(me), "leader unhealthy")
		return
	}
	if req := st.req; req != nil {
		e.handleRequest(ctx, st, req)
		return
	}
	if st.pin != "" && st.pin != me && !st.paused && st.ready(st.pin) {
		e.handover(ctx, st.pin, "pin")
	}
}

// handleRequest carries out or rejects an operator's switchover or
// failover request; either way the request is deleted.
func (e *Elector) handleRequest(ctx context.Context, st *clusterState, req *Request) {
	to, problem := req.To, ""
	switch {
	case req.From != "" && req.From != e.o.Name:
		problem = fmt.Sprintf("addressed to leader %q, not this node", req.From)
	case to == e.o.Name:
		problem = "the target is already the leader"
	case to == "" && req.Kind == "switchover":
		if to = st.bestFollower(e.o.Name); to == "" {
			problem = "no healthy, in-sync follower"
		}
	case to == "":
		problem = "a failover needs a target"
	case req.Kind == "failover" && req.Force:
		if _, alive := st.nodes[to]; !alive {
			problem = fmt.Sprintf("target %q is not running", to)
		}
	case !st.ready(to):
		problem = fmt.Sprintf("target %q is not a healthy, in-sync follower", to)
	}
	if problem != "" {
		e.o.Log.Warn("request rejected", "kind", req.Kind, "to", req.To, "reason", problem)
		dctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
		defer cancel()
		if _, err := e.o.Client.Txn(dctx).If(e.guard()).Then(clientv3.OpDelete(e.o.Keys.Switchover())).Commit(); err != nil {
			e.o.Log.Debug("delete rejected request", "error", err)
		}
		return
	}
	e.handover(ctx, to, req.Kind)
}

// handover steps down for successor to (any node if ""): stop serving
// first, then, guarded by the epoch, name the successor and delete the
// leader key and any pending request.
func (e *Elector) handover(ctx context.Context, to, reason string) {
	epoch := e.epoch.Load()
	guard := e.guard()
	e.demote(reason)
	ops := []clientv3.Op{clientv3.OpDelete(e.o.Keys.Leader()), clientv3.OpDelete(e.o.Keys.Switchover())}
	if to != "" {
		b, err := json.Marshal(Handover{From: e.o.Name, To: to, Epoch: epoch, Reason: reason, At: time.Now().UTC()})
		if err != nil {
			e.o.Log.Error("encode handover", "error", err)
		} else {
			ops = append(ops, clientv3.OpPut(e.o.Keys.Handover(), string(b)))
		}
	}
	hctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
	defer cancel()
	resp, err := e.o.Client.Txn(hctx).If(guard).Then(ops...).Commit()
	switch {
	case err != nil:
		e.o.Log.Warn("hand-over write failed; the lease will expire", "to", to, "error", err)
	case !resp.Succeeded:
		e.o.Log.Warn("hand-over not written: epoch already superseded", "epoch", epoch)
	default:
		e.o.Log.Info("handed over", "epoch", epoch, "to", to, "reason", reason)
	}
}

// follow is one look at the cluster by a node that does not lead.
func (e *Elector) follow(ctx context.Context, st *clusterState, lease clientv3.LeaseID) {
	me := e.o.Name
	if st.leader != nil {
		e.epoch.Store(st.epoch)
		if st.leader.Node == me && st.leader.Lease == int64(lease) {
			// A leader key of ours we no longer act on (we fenced
			// ourselves): give it up so that a fresh election can run.
			e.resign(ctx, st.epoch)
		}
		return
	}
	local := e.o.Local()
	reason, operator := "election", false
	if req := st.req; req != nil && req.To == me && (req.Kind == "switchover" || req.Force) {
		reason, operator = req.Kind, true // no leader to carry it out: take it
	}
	if h := st.handover; h != nil && !operator {
		e.mu.Lock()
		seen, ok := e.hoSeen[st.hoRev]
		if !ok {
			seen = time.Now()
			e.hoSeen = map[int64]time.Time{st.hoRev: seen}
		}
		e.mu.Unlock()
		switch {
		case h.To == me:
			reason, operator = h.Reason, true
		case time.Since(seen) < handoverGrace && st.ready(h.To):
			return // the successor goes first
		}
	}
	if !operator {
		if st.paused || !local.Healthy || !local.InSync || !st.insync.Holds(me, local.Applied) {
			return
		}
		e.mu.Lock()
		since := e.leaderless
		e.mu.Unlock()
		if st.pin != "" && st.pin != me && st.ready(st.pin) && time.Since(since) < pinGrace {
			return // the pinned node goes first
		}
	} else if !local.Healthy && !(st.req != nil && st.req.Force) {
		return
	}
	e.campaign(ctx, lease, reason)
}

// resign deletes this node's leader key of epoch.
func (e *Elector) resign(ctx context.Context, epoch int64) {
	rctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
	defer cancel()
	guard := clientv3.Compare(clientv3.CreateRevision(e.o.Keys.Leader()), "=", epoch)
	if _, err := e.o.Client.Txn(rctx).If(guard).Then(clientv3.OpDelete(e.o.Keys.Leader())).Commit(); err != nil {
		e.o.Log.Debug("resign", "error", err)
	}
}

// campaign tries to create the leader key on this node's lease. The epoch
// is the key's create revision. Before serving, the key and the lease are
// checked again (as etcd #11051 teaches for concurrency.Campaign).
func (e *Elector) campaign(ctx context.Context, lease clientv3.LeaseID, reason string) {
	if !e.fence.leaseValid() {
		return // a lease we cannot vouch for must not become a leader key
	}
	e.role.Store(RoleCandidate)
	defer func() {
		if e.Role() == RoleCandidate {
			e.role.Store(RoleFollower)
		}
	}()
	rec, err := json.Marshal(Leader{Node: e.o.Name, Lease: int64(lease), Since: time.Now().UTC(), Reason: reason})
	if err != nil {
		e.o.Log.Error("encode leader record", "error", err)
		return
	}
	k := e.o.Keys
	cctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
	defer cancel()
	resp, err := e.o.Client.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(k.Leader()), "=", 0)).
		Then(clientv3.OpPut(k.Leader(), string(rec), clientv3.WithLease(lease))).Commit()
	if err != nil || !resp.Succeeded {
		if err != nil {
			e.o.Log.Debug("campaign", "error", err)
		}
		return
	}
	epoch := resp.Header.Revision
	got, err := e.o.Client.Get(cctx, k.Leader())
	if err != nil || len(got.Kvs) != 1 || got.Kvs[0].CreateRevision != epoch || got.Kvs[0].Lease != int64(lease) || !e.fence.leaseValid() {
		e.o.Log.Warn("leader key lost right after the campaign; not serving", "epoch", epoch, "error", err)
		return
	}
	electedAt := time.Now().UTC()
	e.epoch.Store(epoch)
	e.fence.setLeader(true)
	e.role.Store(RoleLeader)
	e.mu.Lock()
	e.leader = e.o.Name
	e.mu.Unlock()
	e.o.Log.Info("elected leader", "epoch", epoch, "reason", reason)
	if err := e.o.Promote(ctx, epoch, e.fence); err != nil {
		e.o.Log.Error("cannot serve as leader; giving leadership up", "epoch", epoch, "error", err)
		e.demote("promotion failed")
		e.resign(ctx, epoch)
		return
	}
	e.record(ctx, epoch, reason, electedAt)
}

// record writes the history entry of epoch and clears the hand-over and
// request that led to it, guarded by the epoch.
func (e *Elector) record(ctx context.Context, epoch int64, reason string, electedAt time.Time) {
	b, err := json.Marshal(HistoryEntry{Epoch: epoch, Node: e.o.Name, Reason: reason, Time: time.Now().UTC(), ElectedAt: electedAt})
	if err != nil {
		e.o.Log.Error("encode history entry", "error", err)
		return
	}
	k := e.o.Keys
	// etcd drops proposals while its raft leadership moves (which a new
	// leader's node may cause at once): retry for a while.
	deadline := time.Now().Add(2 * e.o.TTL)
	for {
		rctx, cancel := context.WithTimeout(ctx, e.o.TTL/2)
		resp, err := e.o.Client.Txn(rctx).If(e.guard()).Then(
			clientv3.OpPut(k.HistoryAt(epoch), string(b)),
			clientv3.OpDelete(k.Handover()),
			clientv3.OpDelete(k.Switchover()),
		).Commit()
		cancel()
		switch {
		case err == nil && !resp.Succeeded:
			e.o.Log.Warn("history entry not written: epoch superseded", "epoch", epoch)
			return
		case err == nil:
			return
		case time.Now().After(deadline) || ctx.Err() != nil || e.Role() != RoleLeader:
			e.o.Log.Warn("history entry not written", "epoch", epoch, "error", err)
			return
		}
		time.Sleep(retryBackoff / 5)
	}
}
