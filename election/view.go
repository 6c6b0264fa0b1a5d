package election

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// View is a consistent picture of one cluster's leadership keys, read at a
// single etcd revision. It is what triadctl shows, and what a node or the
// load-balancer agent needs to know who leads. It is a plain value: nothing
// in it changes after ReadView returns.
type View struct {
	Revision int64 // the etcd revision the view was read at

	Leader       *string // the leading node; nil: nobody leads
	LeaderRecord *Leader // the leader key's value; nil when Leader is nil
	LeaderLease  int64   // the lease the leader key is attached to
	Epoch        int64   // the leader key's create revision; 0 when nobody leads

	Pin         *string // the pinned node; nil: no pin
	PinHonoured bool    // no pin, or the pinned node leads

	Paused bool         // the pause key is present
	Pause  *PauseRecord // its value, when it decodes

	Switchover *Request  // a pending switchover or failover request
	Handover   *Handover // the last hand-over written by a leader stepping down

	// InSync is the replication in-sync set as last written by a leader;
	// nil: none (no replication, or no follower has caught up yet in a new
	// cluster).
	InSync *InSync

	Nodes []NodeView // every nodes/<name> record, sorted by name

	// Problems lists records that did not decode. The view is still usable:
	// an undecodable leader record reads as "nobody leads" (fail closed), an
	// undecodable node record is left out of Nodes.
	Problems []string
}

// NodeView is one node's published status as seen in a View.
type NodeView struct {
	NodeStatus
	// Lag is how many entries the node's state is behind the leader's: by
	// the leader's report on its stream (Replication) when it has one,
	// else the leader's Applied minus this node's, never below 0 (status
	// records are published at different times); 0 for the leader itself.
	// nil when nobody leads or the leader has published no status.
	Lag *int64
	// LagSeconds is the age of the oldest entry the node has not
	// acknowledged, by the leader's report; 0 for the leader itself, nil
	// when the leader reports nothing on it.
	LagSeconds *float64
	// Replication is the leader's report on this follower's stream
	// (the leader's NodeStatus.Followers); nil for the leader itself and
	// when the leader reports nothing on it.
	Replication *FollowerStatus
	// Connected says whether the node has a replication stream from the
	// leader: by the leader's report, and false when the leader reports
	// on other followers but not on it. nil for the leader itself, when
	// nobody leads, and when the leader reports on no follower.
	Connected *bool
	// InSyncSet says whether the node holds every acknowledged entry by
	// the in-sync record (View.InSync), the set that decides who may be
	// elected: it leads, it wrote the record or it is a member. Without a
	// record it is the node's own claim, NodeStatus.InSync.
	InSyncSet bool
	// KeyLease is the lease the nodes/<name> key is attached to (0: none).
	KeyLease int64
	// IsLeader says the leader key names this node.
	IsLeader bool
}

// PauseRecord is the value of the pause key: who paused automatic leader
// changes, and when. Only the key's presence matters to the nodes.
type PauseRecord struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
}

// Node returns the status of the live node called name.
func (v *View) Node(name string) (*NodeView, bool) {
	i, ok := slices.BinarySearchFunc(v.Nodes, name, func(n NodeView, name string) int {
		return strings.Compare(n.Name, name)
	})
	if !ok {
		return nil, false
	}
	return &v.Nodes[i], true
}

// NodeNames returns the names of the live nodes, sorted.
func (v *View) NodeNames() []string {
	names := make([]string, len(v.Nodes))
	for i, n := range v.Nodes {
		names[i] = n.Name
	}
	return names
}

// LeaderNode returns the leader's published status, if it has one.
func (v *View) LeaderNode() (*NodeView, bool) {
	if v.Leader == nil {
		return nil, false
	}
	return v.Node(*v.Leader)
}

// ReadView reads the cluster's leader, node, pin, pause, switchover and
// handover keys in one read-only transaction, so they all come from the
// same revision. It blocks until etcd answers; cancelling ctx abandons the
// read and returns ctx's error (wrapped).
func ReadView(ctx context.Context, c *clientv3.Client, k Keys) (*View, error) {
	resp, err := c.Txn(ctx).Then(
		clientv3.OpGet(k.Leader()),
		clientv3.OpGet(k.Nodes(), clientv3.WithPrefix()),
		clientv3.OpGet(k.Pin()),
		clientv3.OpGet(k.Pause()),
		clientv3.OpGet(k.Switchover()),
		clientv3.OpGet(k.Handover()),
		clientv3.OpGet(k.InSync()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("read cluster view under %s: %w", k.Prefix, err)
	}
	kvs := make([][]*mvccpb.KeyValue, len(resp.Responses))
	for i, r := range resp.Responses {
		kvs[i] = r.GetResponseRange().GetKvs()
	}
	return buildView(k, resp.Header.Revision, kvs), nil
}

// buildView decodes the ranges ReadView read: leader, nodes, pin, pause,
// switchover, handover, insync.
func buildView(k Keys, rev int64, kvs [][]*mvccpb.KeyValue) *View {
	leader, nodes, pin, pause, sw, handover, insync := kvs[0], kvs[1], kvs[2], kvs[3], kvs[4], kvs[5], kvs[6]
	v := &View{Revision: rev}
	if kv := firstKV(leader); kv != nil {
		var l Leader
		if err := json.Unmarshal(kv.Value, &l); err != nil || l.Node == "" {
			v.problem(kv, err, "leader record without a node")
		} else {
			v.Leader, v.LeaderRecord = &l.Node, &l
			v.LeaderLease, v.Epoch = kv.Lease, kv.CreateRevision
		}
	}
	for _, kv := range nodes {
		name, ok := k.NodeName(string(kv.Key))
		if !ok {
			continue
		}
		var s NodeStatus
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			v.problem(kv, err, "")
			continue
		}
		s.Name = name // the key is authoritative
		v.Nodes = append(v.Nodes, NodeView{NodeStatus: s, KeyLease: kv.Lease})
	}
	slices.SortFunc(v.Nodes, func(a, b NodeView) int { return strings.Compare(a.Name, b.Name) })
	if kv := firstKV(insync); kv != nil {
		var is InSync
		if err := json.Unmarshal(kv.Value, &is); err != nil {
			v.problem(kv, err, "")
		} else {
			v.InSync = &is
		}
	}
	v.setLags()

	if kv := firstKV(pin); kv != nil {
		name := strings.TrimSpace(string(kv.Value))
		v.Pin = &name
	}
	v.PinHonoured = v.Pin == nil || (v.Leader != nil && *v.Leader == *v.Pin)

	if kv := firstKV(pause); kv != nil {
		v.Paused = true
		var p PauseRecord
		if json.Unmarshal(kv.Value, &p) == nil {
			v.Pause = &p
		}
	}
	if kv := firstKV(sw); kv != nil {
		var r Request
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			v.problem(kv, err, "")
		} else {
			v.Switchover = &r
		}
	}
	if kv := firstKV(handover); kv != nil {
		var h Handover
		if err := json.Unmarshal(kv.Value, &h); err != nil {
			v.problem(kv, err, "")
		} else {
			v.Handover = &h
		}
	}
	return v
}

// setLags fills each node's IsLeader, InSyncSet and, from the leader's
// status, its lag and stream.
func (v *View) setLags() {
	for i := range v.Nodes {
		n := &v.Nodes[i]
		n.IsLeader = v.Leader != nil && n.Name == *v.Leader
		n.InSyncSet = n.InSync // no record: the node's own claim
		if v.InSync != nil {
			n.InSyncSet = n.IsLeader || v.InSync.Holds(n.Name, n.Applied)
		}
	}
	ld, ok := v.LeaderNode()
	if !ok {
		return
	}
	top, reports := ld.Applied, ld.Followers
	for i := range v.Nodes {
		n := &v.Nodes[i]
		var lag int64
		if n.IsLeader {
			n.Lag, n.LagSeconds = &lag, new(float64)
			continue
		}
		if n.Applied < top {
			lag = int64(top - n.Applied)
		}
		if j := slices.IndexFunc(reports, func(f FollowerStatus) bool { return f.Name == n.Name }); j >= 0 {
			r := reports[j]
			lag = int64(r.Lag)
			n.Replication, n.LagSeconds, n.Connected = &r, &r.LagSeconds, &r.Connected
		} else if len(reports) > 0 {
			n.Connected = new(bool) // the leader streams to others, not to it
		}
		n.Lag = &lag
	}
}

func (v *View) problem(kv *mvccpb.KeyValue, err error, what string) {
	if err == nil {
		err = errors.New(what)
	}
	v.Problems = append(v.Problems, fmt.Sprintf("%s: undecodable value %q: %v", kv.Key, clipValue(kv.Value, 80), err))
}

// newestRev returns the highest revision among events; 0 for none.
func newestRev(evs []*clientv3.Event) int64 {
	var rev int64
	for _, ev := range evs {
		rev = max(rev, ev.Kv.ModRevision)
	}
	return rev
}

func firstKV(kvs []*mvccpb.KeyValue) *mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	return kvs[0]
}

func clipValue(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// WatchView calls fn with the cluster's view now, and again after every
// change under the cluster's prefix (several changes reported together give
// one call). fn runs on WatchView's goroutine; the views it gets have
// strictly increasing revisions.
//
// WatchView returns ctx's error when ctx is cancelled, or the error that
// stopped it: a failed read, or a watch that etcd cancelled (the member
// lost its leader: the watch requires one, so a partitioned member does not
// silently serve a stale picture). Callers that must keep watching call it
// again.
func WatchView(ctx context.Context, c *clientv3.Client, k Keys, fn func(*View)) error {
	v, err := ReadView(ctx, c, k)
	if err != nil {
		return err
	}
	fn(v)
	last := v.Revision

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := c.Watch(wctx, k.Prefix, clientv3.WithPrefix(), clientv3.WithRev(last+1))
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case resp, ok = <-wch:
		}
		if !ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch %s: closed", k.Prefix)
		}
		if err := resp.Err(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch %s: %w", k.Prefix, err)
		}
		if newestRev(resp.Events) <= last {
			continue // progress notification, or changes the last view holds
		}
		v, err := ReadView(ctx, c, k)
		if err != nil {
			return err
		}
		if v.Revision <= last {
			continue
		}
		last = v.Revision
		fn(v)
	}
}
