package election_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/internal/etcdtest"
)

func startEtcd(t *testing.T) *clientv3.Client { return etcdtest.Start(t).Client }

func ctxFor(t *testing.T) context.Context { return etcdtest.Ctx(t) }

func put(t *testing.T, c *clientv3.Client, key string, v any, opts ...clientv3.OpOption) *clientv3.PutResponse {
	t.Helper()
	var val string
	switch v := v.(type) {
	case string:
		val = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		val = string(b)
	}
	resp, err := c.Put(ctxFor(t), key, val, opts...)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp
}

func grant(t *testing.T, c *clientv3.Client) clientv3.LeaseID {
	t.Helper()
	l, err := c.Grant(ctxFor(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	return l.ID
}

// writeCluster publishes three nodes, n2 leading on its lease.
func writeCluster(t *testing.T, c *clientv3.Client, k election.Keys) (epoch int64, lease clientv3.LeaseID) {
	t.Helper()
	lease = grant(t, c)
	for _, s := range []election.NodeStatus{
		{Name: "n3", Role: election.RoleFollower, Healthy: true, InSync: false, Applied: 70},
		{Name: "n1", Role: election.RoleFollower, Healthy: true, InSync: true, Applied: 100},
		{Name: "n2", Role: election.RoleLeader, Healthy: true, InSync: true, Applied: 105, MQTT: []string{"10.0.0.2:1883"}},
	} {
		put(t, c, k.Node(s.Name), s, clientv3.WithLease(lease))
	}
	resp := put(t, c, k.Leader(), election.Leader{Node: "n2", Lease: int64(lease), Reason: "election"}, clientv3.WithLease(lease))
	return resp.Header.Revision, lease
}

func read(t *testing.T, c *clientv3.Client, k election.Keys) *election.View {
	t.Helper()
	v, err := election.ReadView(ctxFor(t), c, k)
	if err != nil {
		t.Fatalf("ReadView: %v", err)
	}
	return v
}

func TestReadView(t *testing.T) {
	c := startEtcd(t)

	t.Run("empty cluster", func(t *testing.T) {
		v := read(t, c, election.NewKeys("empty"))
		if v.Leader != nil || v.Epoch != 0 || v.Pin != nil || !v.PinHonoured || v.Paused || len(v.Nodes) != 0 || v.Switchover != nil {
			t.Fatalf("view of an empty cluster: %+v", v)
		}
		if v.Revision == 0 {
			t.Fatal("revision 0")
		}
	})

	t.Run("leader, nodes, pin, pause, switchover", func(t *testing.T) {
		k := election.NewKeys("full")
		epoch, lease := writeCluster(t, c, k)
		put(t, c, k.Pin(), "n1")
		put(t, c, k.Pause(), election.PauseRecord{At: time.Now(), By: "triadctl"})
		put(t, c, k.Switchover(), election.Request{Kind: "switchover", To: "n1", From: "n2", At: time.Now()})
		v := read(t, c, k)

		if v.Leader == nil || *v.Leader != "n2" || v.Epoch != epoch || v.LeaderLease != int64(lease) {
			t.Fatalf("leader %v epoch %d lease %d; want n2, %d, %d", v.Leader, v.Epoch, v.LeaderLease, epoch, lease)
		}
		if v.Pin == nil || *v.Pin != "n1" || v.PinHonoured {
			t.Fatalf("pin %v honoured %v; want n1, false", v.Pin, v.PinHonoured)
		}
		if !v.Paused || v.Pause == nil || v.Pause.By != "triadctl" {
			t.Fatalf("paused %v %+v", v.Paused, v.Pause)
		}
		if v.Switchover == nil || v.Switchover.To != "n1" || v.Switchover.From != "n2" {
			t.Fatalf("switchover %+v", v.Switchover)
		}
		if got := v.NodeNames(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
			t.Fatalf("nodes %v, want sorted n1 n2 n3", got)
		}
		for name, want := range map[string]int64{"n1": 5, "n2": 0, "n3": 35} {
			n, ok := v.Node(name)
			if !ok || n.Lag == nil || *n.Lag != want {
				t.Fatalf("%s: %+v; want lag %d", name, n, want)
			}
			if n.IsLeader != (name == "n2") || n.KeyLease != int64(lease) {
				t.Fatalf("%s: leader %v key lease %d", name, n.IsLeader, n.KeyLease)
			}
		}
		if _, ok := v.Node("n4"); ok {
			t.Fatal("found n4")
		}
		if len(v.Problems) != 0 {
			t.Fatalf("problems: %v", v.Problems)
		}
	})

	t.Run("in-sync record and the leader's follower reports", func(t *testing.T) {
		k := election.NewKeys("replicating")
		lease := grant(t, c)
		for _, s := range []election.NodeStatus{
			// n1 claims to be in sync but the record says otherwise; n3
			// claims not to be but is a member (claims lag the record).
			{Name: "n1", Role: election.RoleFollower, Healthy: true, InSync: true, Applied: 90},
			{Name: "n2", Role: election.RoleLeader, Healthy: true, InSync: true, Applied: 100, Followers: []election.FollowerStatus{
				{Name: "n1", Acked: 60, Lag: 40, LagSeconds: 12.5, Connected: false},
				{Name: "n4", Acked: 100, InSync: true, Connected: true}, // no live status record
			}},
			{Name: "n3", Role: election.RoleFollower, Healthy: true, InSync: false, Applied: 97},
		} {
			put(t, c, k.Node(s.Name), s, clientv3.WithLease(lease))
		}
		put(t, c, k.Leader(), election.Leader{Node: "n2", Lease: int64(lease)}, clientv3.WithLease(lease))
		put(t, c, k.InSync(), election.InSync{Epoch: 7, Leader: "n2", Members: []string{"n3", "n4"}})
		v := read(t, c, k)
		if v.InSync == nil || !slices.Equal(v.InSync.Members, []string{"n3", "n4"}) || v.InSync.Leader != "n2" {
			t.Fatalf("in-sync record %+v", v.InSync)
		}
		for _, tc := range []struct {
			name       string
			inSync     bool
			lag        int64
			lagSeconds *float64
			connected  *bool
		}{
			{"n1", false, 40, ptr(12.5), ptr(false)}, // the report's lag, not 100-90
			{"n2", true, 0, ptr(0.0), nil},
			{"n3", true, 3, nil, ptr(false)}, // the leader streams to others, not to it
		} {
			t.Run(tc.name, func(t *testing.T) {
				n, ok := v.Node(tc.name)
				if !ok {
					t.Fatal("missing")
				}
				if n.InSyncSet != tc.inSync {
					t.Errorf("InSyncSet %v, want %v", n.InSyncSet, tc.inSync)
				}
				if n.Lag == nil || *n.Lag != tc.lag {
					t.Errorf("Lag %v, want %d", deref(n.Lag), tc.lag)
				}
				if !samePtr(n.LagSeconds, tc.lagSeconds) {
					t.Errorf("LagSeconds %v, want %v", deref(n.LagSeconds), deref(tc.lagSeconds))
				}
				if !samePtr(n.Connected, tc.connected) {
					t.Errorf("Connected %v, want %v", deref(n.Connected), deref(tc.connected))
				}
				if (n.Replication != nil) != (tc.name == "n1") {
					t.Errorf("Replication %+v", n.Replication)
				}
			})
		}
	})

	t.Run("no in-sync record: the nodes' own claims, lag from applied indexes", func(t *testing.T) {
		k := election.NewKeys("claims")
		writeCluster(t, c, k)
		v := read(t, c, k)
		for name, want := range map[string]bool{"n1": true, "n2": true, "n3": false} {
			if n, _ := v.Node(name); n.InSyncSet != want || n.Connected != nil || (n.LagSeconds != nil) != (name == "n2") {
				t.Errorf("%s: InSyncSet %v Connected %v LagSeconds %v; want %v, nil, nil except the leader's 0",
					name, n.InSyncSet, deref(n.Connected), deref(n.LagSeconds), want)
			}
		}
	})

	t.Run("undecodable in-sync record", func(t *testing.T) {
		k := election.NewKeys("badinsync")
		writeCluster(t, c, k)
		put(t, c, k.InSync(), "{")
		v := read(t, c, k)
		if v.InSync != nil || len(v.Problems) != 1 {
			t.Fatalf("in-sync %+v problems %q", v.InSync, v.Problems)
		}
	})

	t.Run("pin on the leader is honoured", func(t *testing.T) {
		k := election.NewKeys("pinned")
		writeCluster(t, c, k)
		put(t, c, k.Pin(), "n2")
		if v := read(t, c, k); !v.PinHonoured {
			t.Fatalf("pin %v on leader %v not honoured", *v.Pin, *v.Leader)
		}
	})

	t.Run("a follower ahead of the leader's last status lags 0", func(t *testing.T) {
		k := election.NewKeys("ahead")
		put(t, c, k.Node("n1"), election.NodeStatus{Applied: 9})
		put(t, c, k.Node("n2"), election.NodeStatus{Applied: 5})
		put(t, c, k.Leader(), election.Leader{Node: "n2"})
		v := read(t, c, k)
		if n, _ := v.Node("n1"); n.Lag == nil || *n.Lag != 0 {
			t.Fatalf("n1: %+v, want lag 0", n)
		}
	})

	t.Run("leader without status: no lag", func(t *testing.T) {
		k := election.NewKeys("silent")
		put(t, c, k.Node("n1"), election.NodeStatus{Applied: 9})
		put(t, c, k.Leader(), election.Leader{Node: "n2"})
		v := read(t, c, k)
		if *v.Leader != "n2" || v.Nodes[0].Lag != nil || v.Nodes[0].IsLeader {
			t.Fatalf("%+v", v)
		}
	})

	t.Run("no leader: no lag", func(t *testing.T) {
		k := election.NewKeys("leaderless")
		put(t, c, k.Node("n1"), election.NodeStatus{Role: election.RoleFollower, Applied: 3})
		put(t, c, k.Pin(), "n1")
		v := read(t, c, k)
		if v.Leader != nil || v.PinHonoured || len(v.Nodes) != 1 || v.Nodes[0].Lag != nil || v.Nodes[0].Name != "n1" {
			t.Fatalf("%+v", v)
		}
	})

	t.Run("bad records are reported, not fatal", func(t *testing.T) {
		k := election.NewKeys("bad")
		put(t, c, k.Leader(), "not json")
		put(t, c, k.Node("n1"), "{")
		put(t, c, k.Node("n2"), election.NodeStatus{Applied: 1})
		v := read(t, c, k)
		if v.Leader != nil || v.Epoch != 0 {
			t.Fatalf("undecodable leader read as %v epoch %d; want nobody", *v.Leader, v.Epoch)
		}
		if !slices.Equal(v.NodeNames(), []string{"n2"}) || len(v.Problems) != 2 {
			t.Fatalf("nodes %v problems %q", v.NodeNames(), v.Problems)
		}
	})

	t.Run("other clusters are not seen", func(t *testing.T) {
		put(t, c, election.NewKeys("iso").Node("a"), election.NodeStatus{})
		put(t, c, election.NewKeys("iso2").Node("b"), election.NodeStatus{})
		put(t, c, election.NewKeys("iso2").Leader(), election.Leader{Node: "b"})
		v := read(t, c, election.NewKeys("iso"))
		if !slices.Equal(v.NodeNames(), []string{"a"}) || v.Leader != nil {
			t.Fatalf("nodes %v leader %v", v.NodeNames(), v.Leader)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func samePtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// deref shows a pointer's value, or nil.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// viewLog collects the views election.WatchView reports.
type viewLog struct {
	mu    sync.Mutex
	views []*election.View
}

func (l *viewLog) add(v *election.View) { l.mu.Lock(); l.views = append(l.views, v); l.mu.Unlock() }

// waitFor polls until some view satisfies ok.
func (l *viewLog) waitFor(t *testing.T, what string, ok func(*election.View) bool) *election.View {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, v := range l.views {
			if ok(v) {
				l.mu.Unlock()
				return v
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no view with %s after 10s", what)
	return nil
}

func TestWatchView(t *testing.T) {
	c := startEtcd(t)
	k := election.NewKeys("w")
	ctx, cancel := context.WithCancel(t.Context())
	var log viewLog
	done := make(chan error, 1)
	go func() { done <- election.WatchView(ctx, c, k, log.add) }()

	log.waitFor(t, "no leader", func(v *election.View) bool { return v.Leader == nil })
	epoch, lease := writeCluster(t, c, k)
	log.waitFor(t, "leader n2", func(v *election.View) bool {
		return v.Leader != nil && *v.Leader == "n2" && v.Epoch == epoch && len(v.Nodes) == 3
	})
	put(t, c, k.Pause(), "{}")
	log.waitFor(t, "paused", func(v *election.View) bool { return v.Paused })
	if _, err := c.Revoke(ctxFor(t), lease); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, "leader and nodes gone", func(v *election.View) bool { return v.Leader == nil && len(v.Nodes) == 0 && v.Paused })

	log.mu.Lock()
	for i := 1; i < len(log.views); i++ {
		if log.views[i].Revision <= log.views[i-1].Revision {
			t.Errorf("view %d revision %d after %d", i, log.views[i].Revision, log.views[i-1].Revision)
		}
	}
	log.mu.Unlock()

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("election.WatchView returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("election.WatchView did not return after cancel")
	}
}

func TestWatchViewStopsOnReadError(t *testing.T) {
	c := startEtcd(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := election.WatchView(ctx, c, election.NewKeys("x"), func(*election.View) { t.Error("fn called on a cancelled context") })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("election.WatchView on a cancelled context returned %v, want context.Canceled", err)
	}
}
