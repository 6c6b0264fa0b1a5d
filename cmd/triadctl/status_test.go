package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

func TestStatus(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "prod")
	e.put(t, tc.keys.Pin(), "n1")

	t.Run("text", func(t *testing.T) {
		r := e.run(t, "prod", "status")
		r.want(t, 0, []string{
			"cluster  prod\n",
			fmt.Sprintf("leader   n2 (epoch %d, by election)\n", tc.epoch),
			"pin      n1 (NOT honoured: n2 leads)\n",
			"paused   no\n",
			"in sync  no set in etcd",
		}, nil)
		ep := fmt.Sprint(tc.epoch)
		for _, want := range [][]string{
			{"NODE", "ROLE", "HEALTHY", "IN_SYNC", "STREAM", "EPOCH", "APPLIED", "LAG", "LAG(s)", "MQTT", "HTTP", "VERSION"},
			{"n1", "follower", "yes", "yes", "-", ep, "100", "5", "-", "10.0.0.1:1883", "10.0.0.1:8008", "0.1.0"},
			{"n2*", "leader", "yes", "yes", "-", ep, "105", "0", "0.0", "10.0.0.2:1883,10.0.0.2:8883", "10.0.0.2:8008", "0.1.0"},
			{"n3", "follower", "yes", "no", "-", ep, "70", "35", "-", "-", "-", "0.1.0"},
		} {
			if !hasRow(r.stdout, want) {
				t.Errorf("no row %q", want)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		r := e.run(t, "prod", "status", "--json")
		r.want(t, 0, nil, nil)
		var got map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		for k, want := range map[string]any{
			"cluster": "prod", "leader": "n2", "epoch": float64(tc.epoch), "pin": "n1",
			"pin_honoured": false, "paused": false,
		} {
			if got[k] != want {
				t.Errorf("%s = %#v, want %#v", k, got[k], want)
			}
		}
		if v, ok := got["in_sync_set"]; !ok || v != nil {
			t.Errorf("in_sync_set = %#v (present %v), want null", v, ok)
		}
		nodes, _ := got["nodes"].([]any)
		if len(nodes) != 3 {
			t.Fatalf("nodes: %#v", got["nodes"])
		}
		n3 := nodes[2].(map[string]any)
		for k, want := range map[string]any{
			"name": "n3", "role": "follower", "healthy": true, "in_sync": false, "applied": float64(70),
			"lag": float64(35), "epoch": float64(tc.epoch), "mqtt": []any{}, "http": "", "version": "0.1.0",
			"lag_seconds": nil, "connected": nil,
		} {
			if fmt.Sprint(n3[k]) != fmt.Sprint(want) {
				t.Errorf("nodes[2].%s = %#v, want %#v", k, n3[k], want)
			}
		}
	})

	t.Run("empty cluster json", func(t *testing.T) {
		r := e.run(t, "empty", "status", "--json")
		r.want(t, 0, []string{`"leader": null`, `"pin": null`, `"pin_honoured": true`, `"nodes": []`}, nil)
	})

	t.Run("empty cluster text", func(t *testing.T) {
		e.run(t, "empty", "status").want(t, 0, []string{"leader   none", "pin      none", "no live nodes"}, nil)
	})
}

// writeReplicating publishes a replicating cluster: n2 leads and reports
// on its followers; n1 is in the in-sync set and streams, n3 claims to be
// in sync but was dropped from the set and its stream is gone, and the set
// also names n4, which has no live status.
func (e *testEtcd) writeReplicating(t *testing.T, cluster string) testCluster {
	t.Helper()
	tc := testCluster{keys: election.NewKeys(cluster), leases: map[string]clientv3.LeaseID{}}
	l := e.grant(t)
	tc.epoch = e.put(t, tc.keys.Leader(), election.Leader{Node: "n2", Lease: int64(l), Reason: "election"}, clientv3.WithLease(l))
	for _, s := range []election.NodeStatus{
		{Name: "n1", Role: election.RoleFollower, Healthy: true, InSync: true, Applied: 498},
		{Name: "n2", Role: election.RoleLeader, Healthy: true, InSync: true, Applied: 500, Followers: []election.FollowerStatus{
			{Name: "n1", Acked: 499, Lag: 1, LagSeconds: 0.04, InSync: true, Connected: true},
			{Name: "n3", Acked: 380, Lag: 120, LagSeconds: 42.25, Connected: false},
			{Name: "n4", Acked: 500, InSync: true, Connected: true},
		}},
		{Name: "n3", Role: election.RoleFollower, Healthy: true, InSync: true, Applied: 380},
	} {
		s.Epoch, s.Lease = tc.epoch, int64(l)
		e.put(t, tc.keys.Node(s.Name), s, clientv3.WithLease(l))
	}
	e.put(t, tc.keys.InSync(), election.InSync{Epoch: tc.epoch, Leader: "n2", Members: []string{"n1", "n4"}})
	return tc
}

func TestStatusReplication(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeReplicating(t, "repl")
	ep := fmt.Sprint(tc.epoch)

	t.Run("text", func(t *testing.T) {
		r := e.run(t, "repl", "status")
		r.want(t, 0, []string{fmt.Sprintf("in sync  n1, n4 (no live status); written by n2 in epoch %d\n", tc.epoch)}, nil)
		for _, want := range [][]string{
			{"NODE", "ROLE", "HEALTHY", "IN_SYNC", "STREAM", "EPOCH", "APPLIED", "LAG", "LAG(s)", "MQTT", "HTTP", "VERSION"},
			{"n1", "follower", "yes", "yes", "connected", ep, "498", "1", "0.0", "-", "-", "-"},
			{"n2*", "leader", "yes", "yes", "-", ep, "500", "0", "0.0", "-", "-", "-"},
			{"n3", "follower", "yes", "no", "DISCONNECTED", ep, "380", "120", "42.2", "-", "-", "-"},
		} {
			if !hasRow(r.stdout, want) {
				t.Errorf("no row %q", want)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		r := e.run(t, "repl", "status", "--json")
		r.want(t, 0, nil, nil)
		var got statusJSON
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		if is := got.InSyncSet; is == nil || !slices.Equal(is.Members, []string{"n1", "n4"}) || is.Leader != "n2" || is.Epoch != tc.epoch {
			t.Errorf("in_sync_set %+v", is)
		}
		for _, want := range []struct {
			name       string
			inSync     bool
			lag        int64
			lagSeconds *float64
			connected  *bool
		}{
			{"n1", true, 1, ptr(0.04), ptr(true)},
			{"n2", true, 0, ptr(0.0), nil},
			{"n3", false, 120, ptr(42.25), ptr(false)}, // its claim is not what counts
		} {
			i := slices.IndexFunc(got.Nodes, func(n nodeJSON) bool { return n.Name == want.name })
			if i < 0 {
				t.Fatalf("no node %s", want.name)
			}
			n := got.Nodes[i]
			if n.InSync != want.inSync || n.Lag == nil || *n.Lag != want.lag ||
				fmt.Sprint(deref(n.LagSeconds)) != fmt.Sprint(deref(want.lagSeconds)) ||
				fmt.Sprint(deref(n.Connected)) != fmt.Sprint(deref(want.connected)) {
				t.Errorf("%s: in_sync %v lag %v lag_seconds %v connected %v; want %v %d %v %v", want.name,
					n.InSync, deref(n.Lag), deref(n.LagSeconds), deref(n.Connected),
					want.inSync, want.lag, deref(want.lagSeconds), deref(want.connected))
			}
		}
		if !strings.Contains(r.stdout, `"lag_seconds": 42.25`) || !strings.Contains(r.stdout, `"connected": false`) {
			t.Errorf("JSON field names: %s", r.stdout)
		}
	})

	t.Run("an empty set is said plainly", func(t *testing.T) {
		e.put(t, tc.keys.InSync(), election.InSync{Epoch: tc.epoch, Leader: "n2", Members: []string{}})
		e.run(t, "repl", "status").want(t, 0, []string{"in sync  NONE: only the leader holds every acknowledged entry"}, nil)
	})
}

func ptr[T any](v T) *T { return &v }

// deref shows a pointer's value, or nil.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestStatusWatch(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "w")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut syncBuffer
	a := &app{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- a.main(ctx, []string{"status", "--watch", "--json", "--etcd", e.url, "--cluster", "w"})
	}()

	views := func() []statusJSON {
		var vs []statusJSON
		for line := range strings.Lines(out.String()) {
			var v statusJSON
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	eventually(t, "first view", func() bool { return len(views()) > 0 && !views()[0].Paused })
	e.put(t, tc.keys.Pause(), election.PauseRecord{At: time.Now(), By: "test"})
	eventually(t, "paused view", func() bool { vs := views(); return vs[len(vs)-1].Paused })
	if _, err := e.c.Revoke(ctxFor(t), tc.leases["n2"]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "leader gone", func() bool { vs := views(); return vs[len(vs)-1].Leader == nil })

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d after interrupt, want 0; stderr %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("status --watch did not stop after interrupt")
	}
}

// hasRow says whether some line of out has exactly the given fields.
func hasRow(out string, fields []string) bool {
	for line := range strings.Lines(out) {
		if slices.Equal(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}
