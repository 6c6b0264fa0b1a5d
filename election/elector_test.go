package election

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/internal/etcdtest"
)

func TestFenceValidOnlyWhileLeadingBeforeDeadline(t *testing.T) {
	f := newFence(0)
	f.extend(time.Now().Add(time.Hour))
	if f.Valid() {
		t.Fatal("valid without leading")
	}
	f.setLeader(true)
	if !f.Valid() || f.Remaining() <= 0 {
		t.Fatal("not valid while leading before the deadline")
	}
	f.extend(time.Now().Add(-time.Hour)) // never moves backwards
	if !f.Valid() {
		t.Fatal("extend moved the deadline backwards")
	}
	f.reset()
	f.extend(time.Now().Add(-time.Millisecond))
	if f.Valid() || f.leaseValid() {
		t.Fatal("valid after the deadline")
	}
}

// testNode is an elector with callbacks that record what happened.
type testNode struct {
	name   string
	el     *Elector
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	promoted []int64
	demoted  []string
}

func startNode(t *testing.T, cli *clientv3.Client, cluster, name string) *testNode {
	t.Helper()
	return startNodeWith(t, cli, cluster, name, func() Local { return Local{Healthy: true, InSync: true} })
}

// startNodeWith starts a node whose local state local reports.
func startNodeWith(t *testing.T, cli *clientv3.Client, cluster, name string, local func() Local) *testNode {
	t.Helper()
	n := &testNode{name: name, done: make(chan struct{})}
	n.el = New(Options{Name: name, Keys: NewKeys(cluster), TTL: time.Second, Margin: 300 * time.Millisecond,
		Client: cli, Log: testLog().With("node", name),
		Callbacks: Callbacks{
			Promote: func(_ context.Context, epoch int64, _ *Fence) error {
				n.mu.Lock()
				defer n.mu.Unlock()
				n.promoted = append(n.promoted, epoch)
				return nil
			},
			Demote: func(reason string) {
				n.mu.Lock()
				defer n.mu.Unlock()
				n.demoted = append(n.demoted, reason)
			},
			Local: local,
		}})
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { defer close(n.done); _ = n.el.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) stop() {
	n.cancel()
	<-n.done
}

func (n *testNode) demotions() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.demoted...)
}

func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaders returns the nodes whose elector leads with a valid fence.
func leaders(nodes []*testNode) []*testNode {
	var out []*testNode
	for _, n := range nodes {
		if n != nil && n.el.Role() == RoleLeader && n.el.Fence().Valid() {
			out = append(out, n)
		}
	}
	return out
}

func startThree(t *testing.T, s *etcdtest.Server, cluster string) []*testNode {
	var nodes []*testNode
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startNode(t, etcdtest.NewClient(t, s.URL), cluster, fmt.Sprintf("n%d", i)))
	}
	poll(t, 10*time.Second, "one leader", func() bool { return len(leaders(nodes)) == 1 })
	return nodes
}

func TestElectorOneLeaderWithEpochOfItsKey(t *testing.T) {
	s := etcdtest.Start(t)
	nodes := startThree(t, s, "one")
	l := leaders(nodes)[0]
	resp, err := s.Client.Get(etcdtest.Ctx(t), NewKeys("one").Leader())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("leader key: %v %v", resp, err)
	}
	if got := l.el.Epoch(); got != resp.Kvs[0].CreateRevision {
		t.Fatalf("epoch %d, leader key create revision %d", got, resp.Kvs[0].CreateRevision)
	}
	for _, n := range nodes {
		if n != l && n.el.Fence().Valid() {
			t.Errorf("follower %s has a valid fence", n.name)
		}
	}
	// Every node's status record appears.
	poll(t, 5*time.Second, "three status records", func() bool {
		st, err := readState(etcdtest.Ctx(t), s.Client, NewKeys("one"))
		return err == nil && len(st.nodes) == 3 && st.nodes[l.name].Role == RoleLeader
	})
}

func TestElectorCleanStopHandsOverAtOnce(t *testing.T) {
	s := etcdtest.Start(t)
	nodes := startThree(t, s, "stop")
	old := leaders(nodes)[0]
	epoch := old.el.Epoch()
	t0 := time.Now()
	old.stop()
	rest := []*testNode{}
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	poll(t, time.Second, "a new leader within 1s of a clean stop", func() bool { return len(leaders(rest)) == 1 })
	t.Logf("clean hand-over took %v", time.Since(t0))
	if got := leaders(rest)[0].el.Epoch(); got <= epoch {
		t.Fatalf("new epoch %d not above %d", got, epoch)
	}
	if d := old.demotions(); len(d) != 1 || d[0] != "shutdown" {
		t.Fatalf("old leader demotions %v, want [shutdown]", d)
	}
}

// A leader that cannot reach etcd fences itself before its lease can
// expire, and another node takes over.
func TestElectorSelfFencesWhenEtcdIsUnreachable(t *testing.T) {
	s := etcdtest.Start(t)
	var nodes []*testNode
	isolated := etcdtest.NewClient(t, s.URL)
	nodes = append(nodes, startNode(t, isolated, "fence", "n1"))
	poll(t, 10*time.Second, "n1 leads", func() bool { return len(leaders(nodes)) == 1 })
	nodes = append(nodes, startNode(t, etcdtest.NewClient(t, s.URL), "fence", "n2"))
	f := nodes[0].el.Fence()
	cut := time.Now()
	if err := isolated.Close(); err != nil { // n1 can no longer renew its lease
		t.Fatal(err)
	}
	poll(t, 2*time.Second, "n1's fence to close", func() bool { return !f.Valid() })
	fenced := time.Since(cut)
	if fenced > time.Second {
		t.Errorf("fence closed %v after the last possible keepalive; the lease TTL is 1s", fenced)
	}
	poll(t, 3*time.Second, "n2 to lead", func() bool { return nodes[1].el.Role() == RoleLeader })
	if f.Valid() {
		t.Fatal("n1's fence valid again while n2 leads")
	}
	poll(t, 2*time.Second, "n1 demoted", func() bool { return len(nodes[0].demotions()) == 1 })
	t.Logf("fence closed %v after etcd was cut off", fenced)
}

// A leader whose key is gone (lease revoked by an operator) stops at once.
func TestElectorStepsDownWhenItsKeyIsGone(t *testing.T) {
	s := etcdtest.Start(t)
	nodes := startThree(t, s, "gone")
	old := leaders(nodes)[0]
	ctx := etcdtest.Ctx(t)
	resp, err := s.Client.Get(ctx, NewKeys("gone").Leader())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("leader key: %v", err)
	}
	if _, err := s.Client.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Second, "old leader to step down", func() bool { return old.el.Role() != RoleLeader })
	poll(t, 3*time.Second, "a leader again", func() bool { return len(leaders(nodes)) == 1 })
}

func TestElectorSwitchoverPinPause(t *testing.T) {
	s := etcdtest.Start(t)
	k := NewKeys("ops")
	nodes := startThree(t, s, "ops")
	ctx := etcdtest.Ctx(t)
	old := leaders(nodes)[0]
	var target *testNode
	for _, n := range nodes {
		if n != old {
			target = n
			break
		}
	}
	// The leader rejects a switchover to a node whose status record does
	// not say ready yet: on a loaded machine the records come tens of
	// milliseconds after the election.
	poll(t, 5*time.Second, target.name+"'s status record to say ready", func() bool {
		st, err := readState(ctx, s.Client, k)
		return err == nil && st.ready(target.name)
	})
	req := fmt.Sprintf(`{"kind":"switchover","to":%q,"from":%q}`, target.name, old.name)
	if _, err := s.Client.Put(ctx, k.Switchover(), req); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Second, "switchover to "+target.name, func() bool {
		l := leaders(nodes)
		return len(l) == 1 && l[0] == target
	})

	// Pin another node: leadership moves there.
	pinned := old
	if _, err := s.Client.Put(ctx, k.Pin(), pinned.name); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Second, "leadership to the pinned "+pinned.name, func() bool {
		l := leaders(nodes)
		return len(l) == 1 && l[0] == pinned
	})
	if _, err := s.Client.Delete(ctx, k.Pin()); err != nil {
		t.Fatal(err)
	}

	// Paused: a leader that loses its lease (as in a crash) is not
	// replaced, not even by itself. (A clean stop still hands over: that
	// is the operator's own action.)
	if _, err := s.Client.Put(ctx, k.Pause(), `{}`); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Client.Get(ctx, k.Leader())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("leader key: %v", err)
	}
	if _, err := s.Client.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Second, pinned.name+" to step down", func() bool { return pinned.el.Role() != RoleLeader })
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if l := leaders(nodes); len(l) != 0 {
			t.Fatalf("%s became leader while paused", l[0].name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.Client.Delete(ctx, k.Pause()); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Second, "a leader after resume", func() bool { return len(leaders(nodes)) == 1 })
}

// testLog discards the electors' logs unless TRIAD_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("TRIAD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestElectorPublishesProgressAtMostEverySecond: under load a node's
// applied index changes at every look, and every status write makes every
// node look again. Progress alone must be published at most every
// progressEvery, or the three nodes write their status in a loop as fast
// as etcd commits.
func TestElectorPublishesProgressAtMostEverySecond(t *testing.T) {
	s := etcdtest.Start(t)
	var applied atomic.Uint64
	local := func() Local { return Local{Healthy: true, InSync: true, Applied: applied.Add(1)} }
	var nodes []*testNode
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startNodeWith(t, etcdtest.NewClient(t, s.URL), "busy", fmt.Sprintf("n%d", i), local))
	}
	poll(t, 10*time.Second, "one leader", func() bool { return len(leaders(nodes)) == 1 })

	const window = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	writes := 0
	for resp := range s.Client.Watch(ctx, NewKeys("busy").Nodes(), clientv3.WithPrefix()) {
		writes += len(resp.Events)
	}
	// Three nodes, one progress write a second each, plus one each for a
	// role settling.
	if limit := 3 * (int(window/progressEvery) + 2); writes > limit {
		t.Fatalf("%d status writes in %v, want at most %d", writes, window, limit)
	}
	if writes == 0 {
		t.Fatalf("no status write in %v: progress is never published", window)
	}
	t.Logf("%d status writes in %v", writes, window)
}

func TestFenceStrain(t *testing.T) {
	f := newFence(time.Minute)
	f.setLeader(true)
	f.extend(time.Now().Add(time.Hour))
	if eased, _ := f.Strain(); eased != nil {
		t.Fatal("strained with an hour left and a one-minute threshold")
	}
	f.reset()
	f.extend(time.Now().Add(30 * time.Second))
	eased, left := f.Strain()
	if eased == nil || left <= 0 || left > 30*time.Second {
		t.Fatalf("Strain with 30s left = %v, %v; want strained with at most 30s left", eased, left)
	}
	f.extend(time.Now().Add(time.Hour)) // a renewal
	select {
	case <-eased:
	default:
		t.Fatal("a renewal did not ease the strained readers")
	}
	if e, _ := f.Strain(); e != nil {
		t.Fatal("still strained after the renewal")
	}

	f.reset()
	f.extend(time.Now().Add(30 * time.Second))
	eased, _ = f.Strain()
	f.setLeader(false)
	select {
	case <-eased:
	default:
		t.Fatal("losing leadership did not wake the strained readers")
	}
	if e, _ := f.Strain(); e != nil {
		t.Fatal("a follower's fence is strained")
	}
	f.setLeader(true)
	f.reset()
	f.extend(time.Now().Add(-time.Second))
	if e, _ := f.Strain(); e != nil {
		t.Fatal("an expired fence is strained (its readers must fail as fenced, not wait)")
	}
	if e, _ := newFence(0).Strain(); e != nil {
		t.Fatal("a fence without a threshold is strained")
	}
}
