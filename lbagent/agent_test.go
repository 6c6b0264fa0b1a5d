package lbagent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/internal/etcdtest"
)

const testCluster = "lbt"

var testKeys = election.NewKeys(testCluster)

// campaign makes node the leader the way an election.Elector does: a
// leader record (election.Leader) put on a fresh lease only if the key is
// absent. The lease (60s, no keepalive) outlives the test.
func campaign(t *testing.T, c *clientv3.Client, node string) clientv3.LeaseID {
	t.Helper()
	ctx := etcdtest.Ctx(t)
	lease, err := c.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := json.Marshal(election.Leader{Node: node, Lease: int64(lease.ID), Since: time.Now().UTC(), Reason: "election"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(testKeys.Leader()), "=", 0)).
		Then(clientv3.OpPut(testKeys.Leader(), string(rec), clientv3.WithLease(lease.ID))).Commit()
	if err != nil || !resp.Succeeded {
		t.Fatalf("campaign %s: succeeded %v, %v", node, resp != nil && resp.Succeeded, err)
	}
	return lease.ID
}

// resign revokes the leader's lease, as a leader's clean exit does: the
// leader key goes with it.
func resign(t *testing.T, c *clientv3.Client, lease clientv3.LeaseID) {
	t.Helper()
	if _, err := c.Revoke(etcdtest.Ctx(t), lease); err != nil {
		t.Fatal(err)
	}
}

// switchLeader hands leadership from the holder of lease to node.
func switchLeader(t *testing.T, c *clientv3.Client, lease clientv3.LeaseID, node string) clientv3.LeaseID {
	t.Helper()
	resign(t, c, lease)
	return campaign(t, c, node)
}

// testLogger writes the agent's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testConfig is an agent config for the etcd at url and the socket sock,
// reconciling every 100ms; fallback 0 disables the fallback.
func testConfig(url, sock string, fallback time.Duration) *Config {
	c := &Config{Cluster: testCluster, Etcd: Etcd{Endpoints: []string{url}}, HAProxy: HAProxy{Socket: sock}}
	c.ApplyDefaults()
	c.ReconcileInterval = config.Duration(100 * time.Millisecond)
	c.Etcd.DialTimeout = config.Duration(500 * time.Millisecond)
	c.FallbackAfter = config.Duration(fallback)
	return c
}

// runningAgent is an agent run by a test until stop or the test's end.
type runningAgent struct {
	*Agent
	stop func()
}

func startAgent(t *testing.T, cfg *Config, lb Balancer) *runningAgent {
	t.Helper()
	a, err := New(cfg, Options{Log: testLogger(t), HAProxy: lb})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v; want nil after cancel", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return 10s after cancel")
			}
			if err := a.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &runningAgent{Agent: a, stop: stop}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// waitPasses waits until the agent has finished n more reconcile passes.
func (a *runningAgent) waitPasses(t *testing.T, n int64) {
	t.Helper()
	target := a.Status().Reconciles + n
	waitFor(t, "reconcile passes", 10*time.Second, func() bool { return a.Status().Reconciles >= target })
}

func memAdmins(m *MemHAProxy) string {
	var parts []string
	for _, s := range []string{"n1", "n2", "n3"} {
		parts = append(parts, s+"="+string(m.Admin(s)))
	}
	return strings.Join(parts, " ")
}

func waitMem(t *testing.T, m *MemHAProxy, want string) {
	t.Helper()
	waitFor(t, "servers "+want+" (have "+memAdmins(m)+")", 10*time.Second, func() bool { return memAdmins(m) == want })
}

// lastIndex returns the index of the last command equal to cmd, or -1.
func lastIndex(cmds []string, cmd string) int {
	for i := len(cmds) - 1; i >= 0; i-- {
		if cmds[i] == cmd {
			return i
		}
	}
	return -1
}

func TestAgentFollowsLeaderInOrder(t *testing.T) {
	srv := etcdtest.Start(t)
	m := NewMemHAProxy("triad", "n1", "n2", "n3")
	a := startAgent(t, testConfig(srv.URL, "/unused.sock", 0), m)

	// No leader yet: nothing changes.
	a.waitPasses(t, 3)
	if got := memAdmins(m); got != "n1=ready n2=ready n3=ready" {
		t.Fatalf("without a leader: %s; want nothing changed", got)
	}
	lease := campaign(t, srv.Client, "n1")
	waitMem(t, m, "n1=ready n2=maint n3=maint")
	if st := a.Status(); st.Leader != "n1" || st.Epoch == 0 || st.EtcdErr != nil || st.Fallback {
		t.Errorf("status %+v; want leader n1 with its epoch", st)
	}

	m.SetSessions("n1", 5) // clients of the old leader
	switchLeader(t, srv.Client, lease, "n2")
	waitMem(t, m, "n1=maint n2=ready n3=maint")
	cmds := m.Commands()
	ready := lastIndex(cmds, "set server triad/n2 state ready")
	maint := lastIndex(cmds, "set server triad/n1 state maint")
	shut := lastIndex(cmds, "shutdown sessions server triad/n1")
	if ready < 0 || maint < 0 || shut < 0 || ready >= maint || maint >= shut {
		t.Fatalf("commands %q: want n2 ready, then n1 maint, then n1's sessions shut down", cmds)
	}
	if m.Sessions("n1") != 0 {
		t.Errorf("n1 still has %d sessions", m.Sessions("n1"))
	}
	if st := a.Status(); st.Changes < 5 {
		t.Errorf("status counts %d changes; want at least 5", st.Changes)
	}
}

func TestAgentCorrectsDrift(t *testing.T) {
	srv := etcdtest.Start(t)
	m := NewMemHAProxy("triad", "n1", "n2", "n3")
	startAgent(t, testConfig(srv.URL, "/unused.sock", 0), m)
	campaign(t, srv.Client, "n3")
	waitMem(t, m, "n1=maint n2=maint n3=ready")

	// A hand-made change, a drained leader, sessions left on a follower.
	m.SetFlags("n1", 0)
	m.SetFlags("n3", AdminForcedDrain)
	m.SetSessions("n2", 2)
	waitMem(t, m, "n1=maint n2=maint n3=ready")
	waitFor(t, "n2's sessions shut down", 10*time.Second, func() bool { return m.Sessions("n2") == 0 })
}

// The leader's server must be ready before anything else changes: if
// making it ready fails, the old leader keeps its clients.
func TestAgentGatesOnTheLeadersServer(t *testing.T) {
	srv := etcdtest.Start(t)
	m := NewMemHAProxy("triad", "n1", "n2", "n3")
	a := startAgent(t, testConfig(srv.URL, "/unused.sock", 0), m)
	lease := campaign(t, srv.Client, "n1")
	waitMem(t, m, "n1=ready n2=maint n3=maint")

	refused := errors.New("refused")
	m.Fail("n2", refused)
	switchLeader(t, srv.Client, lease, "n2")
	waitFor(t, "leader n2 seen", 10*time.Second, func() bool { return a.Status().Leader == "n2" })
	a.waitPasses(t, 3)
	if got := memAdmins(m); got != "n1=ready n2=maint n3=maint" {
		t.Fatalf("with n2 unchangeable: %s; want n1 left ready", got)
	}
	if slices.Contains(m.Commands(), "set server triad/n1 state maint") {
		t.Fatal("n1 was put into maint although n2 could not be made ready")
	}
	if err := a.Status().LastErr; !errors.Is(err, refused) {
		t.Errorf("status error %v; want %v", err, refused)
	}
	m.Fail("n2", nil)
	waitMem(t, m, "n1=maint n2=ready n3=maint")
	waitFor(t, "error cleared", 10*time.Second, func() bool { return a.Status().LastErr == nil })
}

// No leader key: the agent holds, then after fallback_after sets every
// server ready; a new leader takes over again.
func TestAgentNoLeaderHoldsThenFallsBack(t *testing.T) {
	srv := etcdtest.Start(t)
	m := NewMemHAProxy("triad", "n1", "n2", "n3")
	a := startAgent(t, testConfig(srv.URL, "/unused.sock", 800*time.Millisecond), m)
	lease := campaign(t, srv.Client, "n1")
	waitMem(t, m, "n1=ready n2=maint n3=maint")

	resign(t, srv.Client, lease)
	waitFor(t, "leader gone", 10*time.Second, func() bool { return a.Status().Leader == "" })
	a.waitPasses(t, 2)
	if got := memAdmins(m); got != "n1=ready n2=maint n3=maint" && !a.Status().Fallback {
		t.Fatalf("during the election gap: %s; want nothing changed", got)
	}
	waitMem(t, m, "n1=ready n2=ready n3=ready")
	if st := a.Status(); !st.Fallback || st.UnknownSince.IsZero() {
		t.Errorf("status %+v; want the fallback", st)
	}
	campaign(t, srv.Client, "n3")
	waitMem(t, m, "n1=maint n2=maint n3=ready")
	if a.Status().Fallback {
		t.Error("still in fallback with a leader")
	}
}

// A leader the backend has no server for changes nothing: the agent must
// not put every server into maint.
func TestAgentLeaderWithoutServer(t *testing.T) {
	srv := etcdtest.Start(t)
	m := NewMemHAProxy("triad", "n1", "n2", "n3")
	a := startAgent(t, testConfig(srv.URL, "/unused.sock", 0), m)
	campaign(t, srv.Client, "n9")
	waitFor(t, "leader n9 seen", 10*time.Second, func() bool { return a.Status().Leader == "n9" })
	a.waitPasses(t, 3)
	if got := memAdmins(m); got != "n1=ready n2=ready n3=ready" {
		t.Fatalf("leader without a server: %s; want nothing changed", got)
	}
	for _, c := range m.Commands() {
		if !strings.HasPrefix(c, "show ") {
			t.Fatalf("command %q sent; want only reads", c)
		}
	}
}

// A mapping names the servers of nodes whose names differ.
func TestAgentServerMapping(t *testing.T) {
	srv := etcdtest.Start(t)
	m := NewMemHAProxy("triad", "n1", "n2", "n3")
	cfg := testConfig(srv.URL, "/unused.sock", 0)
	cfg.Servers = map[string]string{"alpha": "n1", "beta": "n2", "gamma": "n3"}
	startAgent(t, cfg, m)
	campaign(t, srv.Client, "beta")
	waitMem(t, m, "n1=maint n2=ready n3=maint")
}

// An undecodable leader record counts as no leader: nothing changes.
func TestAgentUndecodableLeaderRecord(t *testing.T) {
	srv := etcdtest.Start(t)
	m := NewMemHAProxy("triad", "n1", "n2", "n3")
	a := startAgent(t, testConfig(srv.URL, "/unused.sock", 0), m)
	lease := campaign(t, srv.Client, "n2")
	waitMem(t, m, "n1=maint n2=ready n3=maint")
	if _, err := srv.Client.Put(etcdtest.Ctx(t), testKeys.Leader(), "{not json", clientv3.WithLease(lease)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "record dropped", 10*time.Second, func() bool { return a.Status().Leader == "" })
	a.waitPasses(t, 3)
	if got := memAdmins(m); got != "n1=maint n2=ready n3=maint" {
		t.Fatalf("after an undecodable record: %s; want nothing changed", got)
	}
}

// observe drops watch events older than a read already taken, keeps the
// leader through etcd errors, and trusts a read whose revision went
// backwards (a restored etcd).
func TestObserveOrder(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := New(testConfig("http://127.0.0.1:1", "/unused.sock", 0), Options{
		Log: testLogger(t), HAProxy: NewMemHAProxy("triad"), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() }) // a client that never connected
	a.know = knowledge{unknownSince: now}
	down := errors.New("down")
	for _, step := range []struct {
		name    string
		o       observation
		changed bool
		leader  string
		unknown bool
	}{
		{"read: n2 leads", observation{rev: 7, read: true, leader: "n2", epoch: 6}, true, "n2", false},
		{"late watch event dropped", observation{rev: 5, leader: "n1", epoch: 4}, false, "n2", false},
		{"etcd error keeps n2", observation{err: down}, false, "n2", true},
		{"watch event: n3", observation{rev: 9, leader: "n3", epoch: 9}, true, "n3", false},
		{"key deleted", observation{rev: 10}, true, "", true},
		{"restored etcd read", observation{rev: 3, read: true, leader: "n1", epoch: 2}, true, "n1", false},
		{"same leader read again", observation{rev: 4, read: true, leader: "n1", epoch: 2}, false, "n1", false},
		{"etcd error", observation{err: down}, false, "n1", true},
		{"etcd back, same leader", observation{rev: 5, read: true, leader: "n1", epoch: 2}, true, "n1", false},
	} {
		if got := a.observe(step.o); got != step.changed {
			t.Errorf("%s: observe = %v; want %v", step.name, got, step.changed)
		}
		if a.know.leader != step.leader || a.know.unknownSince.IsZero() != !step.unknown {
			t.Errorf("%s: knowledge %+v; want leader %q, unknown %v", step.name, a.know, step.leader, step.unknown)
		}
	}
}
