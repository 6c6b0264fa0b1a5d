package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

// startRun runs a command line in the background; wait returns its result.
func (e *testEtcd) startRun(t *testing.T, cluster string, args ...string) (wait func() result) {
	t.Helper()
	ch := make(chan result, 1)
	go func() { ch <- e.run(t, cluster, args...) }()
	return func() result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("command did not finish within 20s")
			return result{}
		}
	}
}

// awaitRequest polls for the switchover key and decodes it.
func (e *testEtcd) awaitRequest(t *testing.T, k election.Keys) election.Request {
	t.Helper()
	var val string
	eventually(t, "switchover key written", func() bool {
		v, ok := e.get(t, k.Switchover())
		val = v
		return ok
	})
	var req election.Request
	if err := json.Unmarshal([]byte(val), &req); err != nil {
		t.Fatalf("switchover key %q: %v", val, err)
	}
	return req
}

func TestSwitchoverTimesOut(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	before := time.Now()
	wait := e.startRun(t, "c", "switchover", "--to", "n1", "--timeout", "1s")

	req := e.awaitRequest(t, tc.keys)
	if req.Kind != "switchover" || req.To != "n1" || req.From != "n2" || req.Force || req.At.Before(before.Add(-time.Second)) {
		t.Fatalf("request %+v, want switchover n2 -> n1 at about %v", req, before)
	}
	r := wait()
	r.want(t, 1, []string{"requested switchover n2 -> n1"}, []string{
		"switchover: timed out after 1s",
		fmt.Sprintf("n2 still leads (epoch %d)", tc.epoch),
		"the request is still pending: no node acted on it",
		"the request was withdrawn",
	})
	if _, ok := e.get(t, tc.keys.Switchover()); ok {
		t.Fatal("timed-out request left in etcd")
	}
}

func TestSwitchoverAnyFollower(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	wait := e.startRun(t, "c", "switchover", "--timeout", "500ms")
	if req := e.awaitRequest(t, tc.keys); req.To != "" || req.From != "n2" {
		t.Fatalf("request %+v, want any follower, from n2", req)
	}
	wait().want(t, 1, nil, []string{"timed out after 500ms"})
}

// actAsLeader does what the leader node does with a switchover request:
// it removes the request, records the hand-over, gives up its lease, and
// the target takes the leader key on its own lease. It returns the new epoch.
func actAsLeader(t *testing.T, e *testEtcd, tc testCluster, from, to string) int64 {
	t.Helper()
	ctx := ctxFor(t)
	_, err := e.c.Txn(ctx).Then(
		clientv3.OpDelete(tc.keys.Switchover()),
		clientv3.OpPut(tc.keys.Handover(), fmt.Sprintf(`{"from":%q,"to":%q,"epoch":%d,"reason":"switchover"}`, from, to, tc.epoch)),
	).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Revoke(ctx, tc.leases[from]); err != nil {
		t.Fatal(err)
	}
	return e.put(t, tc.keys.Leader(), election.Leader{Node: to, Lease: int64(tc.leases[to]), Reason: "switchover"},
		clientv3.WithLease(tc.leases[to]))
}

func TestSwitchoverDone(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	wait := e.startRun(t, "c", "switchover", "--to", "n1")
	req := e.awaitRequest(t, tc.keys)
	epoch := actAsLeader(t, e, tc, req.From, req.To)
	wait().want(t, 0, []string{fmt.Sprintf("switchover: n2 -> n1 (epoch %d)\n", epoch)}, nil)
}

func TestSwitchoverWrongNode(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	wait := e.startRun(t, "c", "switchover", "--to", "n1")
	e.awaitRequest(t, tc.keys)
	epoch := actAsLeader(t, e, tc, "n2", "n3")
	wait().want(t, 1, nil, []string{fmt.Sprintf("leadership went to n3 (epoch %d), not n1", epoch)})
}

func TestSwitchoverRefused(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	for _, c := range []struct {
		name, cluster string
		args          []string
		stderr        string
	}{
		{"no leader", "empty", nil, "no node leads cluster empty: a switchover needs a leader"},
		{"to the leader", "c", []string{"--to", "n2"}, "n2 already leads"},
		{"to a lagging node", "c", []string{"--to", "n3"}, "n3 is not ready for a switchover: healthy=true in_sync=false lag=35"},
		{"to an unknown node", "c", []string{"--to", "n7"}, `unknown node "n7" in cluster c (live nodes: n1, n2, n3)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.run(t, c.cluster, append([]string{"switchover"}, c.args...)...).want(t, 1, nil, []string{c.stderr})
			if _, ok := e.get(t, tc.keys.Switchover()); ok {
				t.Fatal("a refused switchover wrote a request")
			}
		})
	}

	t.Run("a request is pending", func(t *testing.T) {
		e.put(t, tc.keys.Switchover(), election.Request{Kind: "switchover", From: "n2", At: time.Now()})
		e.run(t, "c", "switchover").want(t, 1, nil, []string{"a request is already pending: switchover n2 -> any in-sync follower"})
	})
}

func TestFailover(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")

	e.run(t, "c", "failover", "--to", "n3").want(t, 2, nil, []string{
		"failover needs --force", "LOST", "'triadctl switchover --to NODE' is the safe command",
	})
	e.run(t, "c", "failover", "--force").want(t, 2, nil, []string{"failover needs --to NODE"})
	e.run(t, "c", "failover", "--to", "n7", "--force").want(t, 1, nil, []string{`unknown node "n7"`})
	e.run(t, "c", "failover", "--to", "n2", "--force").want(t, 1, nil, []string{"n2 already leads"})
	if _, ok := e.get(t, tc.keys.Switchover()); ok {
		t.Fatal("a refused failover wrote a request")
	}

	wait := e.startRun(t, "c", "failover", "--to", "n3", "--force", "--timeout", "1s")
	req := e.awaitRequest(t, tc.keys)
	if req.Kind != "failover" || req.To != "n3" || req.From != "n2" || !req.Force {
		t.Fatalf("request %+v, want a forced failover n2 -> n3", req)
	}
	wait().want(t, 1, nil, []string{
		"WARNING: n3 lags n2 (the leader) by 35 entries (applied 70 of 105)",
		"failover: timed out after 1s", "the request was withdrawn",
	})

	// The leader dies; n3 is promoted although nobody leads.
	if _, err := e.c.Revoke(ctxFor(t), tc.leases["n2"]); err != nil {
		t.Fatal(err)
	}
	wait = e.startRun(t, "c", "failover", "--to", "n3", "--force")
	req = e.awaitRequest(t, tc.keys)
	if req.From != "" {
		t.Fatalf("request from %q with no leader, want empty", req.From)
	}
	epoch := e.put(t, tc.keys.Leader(), election.Leader{Node: "n3", Reason: "failover"}, clientv3.WithLease(tc.leases["n3"]))
	wait().want(t, 0, []string{fmt.Sprintf("failover: (no leader) -> n3 (epoch %d)", epoch)},
		[]string{"WARNING: n3 lags n1 by 30 entries (applied 70 of 100)"})
}

func TestSwitchoverInterrupted(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan result, 1)
	go func() { ch <- triadctl(ctx, nil, "--etcd", e.url, "--cluster", "c", "switchover", "--to", "n1") }()
	e.awaitRequest(t, tc.keys)
	cancel()
	r := <-ch
	r.want(t, 1, nil, []string{"switchover: interrupted", "the request was withdrawn"})
	if _, ok := e.get(t, tc.keys.Switchover()); ok {
		t.Fatal("interrupted request left in etcd")
	}
}
