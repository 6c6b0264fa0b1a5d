package election

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// clusterState is what the elector reads before every decision, in one
// transaction so that it is a consistent cut at revision rev.
type clusterState struct {
	rev      int64
	leader   *Leader // nil: no leader
	epoch    int64   // the leader key's create revision
	pin      string
	paused   bool
	req      *Request
	reqRev   int64 // mod revision of the switchover key
	handover *Handover
	hoRev    int64   // mod revision of the handover key
	insync   *InSync // nil: no replication in-sync set
	nodes    map[string]NodeStatus
}

func readState(ctx context.Context, cli *clientv3.Client, k Keys) (*clusterState, error) {
	resp, err := cli.Txn(ctx).Then(
		clientv3.OpGet(k.Leader()),
		clientv3.OpGet(k.Nodes(), clientv3.WithPrefix()),
		clientv3.OpGet(k.Pin()),
		clientv3.OpGet(k.Pause()),
		clientv3.OpGet(k.Switchover()),
		clientv3.OpGet(k.Handover()),
		clientv3.OpGet(k.InSync()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	st := &clusterState{rev: resp.Header.Revision, nodes: map[string]NodeStatus{}}
	r := resp.Responses
	if kvs := r[0].GetResponseRange().Kvs; len(kvs) == 1 {
		var l Leader
		if err := json.Unmarshal(kvs[0].Value, &l); err != nil {
			return nil, fmt.Errorf("%s: %w", k.Leader(), err)
		}
		st.leader, st.epoch = &l, kvs[0].CreateRevision
	}
	for _, kv := range r[1].GetResponseRange().Kvs {
		name, ok := k.NodeName(string(kv.Key))
		if !ok {
			continue
		}
		var ns NodeStatus
		if err := json.Unmarshal(kv.Value, &ns); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		st.nodes[name] = ns
	}
	if kvs := r[2].GetResponseRange().Kvs; len(kvs) == 1 {
		st.pin = string(kvs[0].Value)
	}
	st.paused = len(r[3].GetResponseRange().Kvs) == 1
	if kvs := r[4].GetResponseRange().Kvs; len(kvs) == 1 {
		var req Request
		if err := json.Unmarshal(kvs[0].Value, &req); err != nil {
			return nil, fmt.Errorf("%s: %w", k.Switchover(), err)
		}
		st.req, st.reqRev = &req, kvs[0].ModRevision
	}
	if kvs := r[5].GetResponseRange().Kvs; len(kvs) == 1 {
		var h Handover
		if err := json.Unmarshal(kvs[0].Value, &h); err != nil {
			return nil, fmt.Errorf("%s: %w", k.Handover(), err)
		}
		st.handover, st.hoRev = &h, kvs[0].ModRevision
	}
	if kvs := r[6].GetResponseRange().Kvs; len(kvs) == 1 {
		var is InSync
		if err := json.Unmarshal(kvs[0].Value, &is); err != nil {
			return nil, fmt.Errorf("%s: %w", k.InSync(), err)
		}
		st.insync = &is
	}
	return st, nil
}

// ready reports whether node name is alive (its status key exists), healthy
// and in sync: a node that may lead.
func (st *clusterState) ready(name string) bool {
	n, ok := st.nodes[name]
	return ok && n.Healthy && n.InSync && n.Role != RoleStopping
}

// bestFollower picks the ready node other than self with the highest
// applied index (ties: by name); "" if none.
func (st *clusterState) bestFollower(self string) string {
	best := ""
	for name, n := range st.nodes {
		if name == self || !st.ready(name) {
			continue
		}
		if b, ok := st.nodes[best]; best == "" || !ok || n.Applied > b.Applied || (n.Applied == b.Applied && name < best) {
			best = name
		}
	}
	return best
}
