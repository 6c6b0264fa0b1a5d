package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/internal/etcdtest"
)

// testEtcd is a single-member etcd running in the test process.
type testEtcd struct {
	url string
	c   *clientv3.Client
}

func startEtcd(t *testing.T) *testEtcd {
	t.Helper()
	s := etcdtest.Start(t)
	return &testEtcd{url: s.URL, c: s.Client}
}

func freeAddr(t *testing.T) string { return etcdtest.FreeAddr(t) }

func ctxFor(t *testing.T) context.Context { return etcdtest.Ctx(t) }

// result is what one triadctl run gave.
type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// triadctl runs a command line in-process with the given environment.
func triadctl(ctx context.Context, env map[string]string, args ...string) result {
	var out, errOut syncBuffer
	a := &app{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	code := a.main(ctx, args)
	return result{code, out.String(), errOut.String()}
}

// run runs a command against the test etcd and cluster.
func (e *testEtcd) run(t *testing.T, cluster string, args ...string) result {
	t.Helper()
	r := triadctl(ctxFor(t), nil, append([]string{"--etcd", e.url, "--cluster", cluster}, args...)...)
	t.Logf("triadctl %s -> %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

func (r result) want(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d", r.code, code)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q", s)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q", s)
		}
	}
}

func (e *testEtcd) put(t *testing.T, key string, v any, opts ...clientv3.OpOption) int64 {
	t.Helper()
	val, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		val = string(b)
	}
	resp, err := e.c.Put(ctxFor(t), key, val, opts...)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp.Header.Revision
}

// get returns key's value, or false if it is absent.
func (e *testEtcd) get(t *testing.T, key string) (string, bool) {
	t.Helper()
	resp, err := e.c.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

func (e *testEtcd) grant(t *testing.T) clientv3.LeaseID {
	t.Helper()
	l, err := e.c.Grant(ctxFor(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	return l.ID
}

// testCluster is what writeCluster published.
type testCluster struct {
	keys   election.Keys
	epoch  int64
	leases map[string]clientv3.LeaseID
}

// writeCluster publishes three nodes, each on its own lease, as the nodes
// would: n2 leads (applied 105), n1 is in sync (100), n3 lags (70, not in
// sync).
func (e *testEtcd) writeCluster(t *testing.T, cluster string) testCluster {
	t.Helper()
	tc := testCluster{keys: election.NewKeys(cluster), leases: map[string]clientv3.LeaseID{}}
	for _, s := range []election.NodeStatus{
		{Name: "n1", Role: election.RoleFollower, Healthy: true, InSync: true, Applied: 100, Version: "0.1.0",
			MQTT: []string{"10.0.0.1:1883"}, HTTP: "10.0.0.1:8008"},
		{Name: "n2", Role: election.RoleLeader, Healthy: true, InSync: true, Applied: 105, Version: "0.1.0",
			MQTT: []string{"10.0.0.2:1883", "10.0.0.2:8883"}, HTTP: "10.0.0.2:8008"},
		{Name: "n3", Role: election.RoleFollower, Healthy: true, InSync: false, Applied: 70, Version: "0.1.0"},
	} {
		l := e.grant(t)
		tc.leases[s.Name] = l
		s.Lease = int64(l)
		e.put(t, tc.keys.Node(s.Name), s, clientv3.WithLease(l))
	}
	tc.epoch = e.put(t, tc.keys.Leader(), election.Leader{Node: "n2", Lease: int64(tc.leases["n2"]), Reason: "election"},
		clientv3.WithLease(tc.leases["n2"]))
	for i := range tc.leases {
		e.put(t, tc.keys.Node(i), mustGetStatus(t, e, tc.keys.Node(i), tc.epoch), clientv3.WithLease(tc.leases[i]))
	}
	return tc
}

// mustGetStatus returns the status at key with its epoch set.
func mustGetStatus(t *testing.T, e *testEtcd, key string, epoch int64) election.NodeStatus {
	t.Helper()
	val, ok := e.get(t, key)
	if !ok {
		t.Fatalf("%s missing", key)
	}
	var s election.NodeStatus
	if err := json.Unmarshal([]byte(val), &s); err != nil {
		t.Fatal(err)
	}
	s.Epoch = epoch
	return s
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
