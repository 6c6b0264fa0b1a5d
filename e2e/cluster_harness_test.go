package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/triadmq/triad/demo"
)

// A three-node cluster for the end-to-end tests: the layout of `triad demo`
// (demo.Plan: embedded etcd members on 127.0.0.1, lease TTL 2s, fence
// margin 500ms, etcd tick 50ms, election timeout 500ms) run by a
// demo.Supervisor from the -race triad binary built by TestMain. The tests
// kill, stop and restart its processes and drive it with the triadctl
// binary, also built by TestMain.

// clusterTTL is the lease TTL of the demo layout (demo.LeaseTTL).
const clusterTTL = 2 * time.Second

// clusterName is the cluster (etcd prefix) the tests create.
const clusterName = "e2e"

// cluster is a running three-node cluster.
type cluster struct {
	t *testing.T
	l *demo.Layout
	s *demo.Supervisor

	mu      sync.Mutex
	stopped map[string]bool // nodes left SIGSTOPped, continued on cleanup
}

// newCluster lays out a cluster in a temp dir on free ports, starts its
// three nodes and waits for a leader. On cleanup it stops every node,
// fails the test if the race detector reported anything in a node's log,
// and prints the end of every log if the test failed.
func newCluster(t *testing.T) *cluster { t.Helper(); return newClusterWith(t, nil) }

// newClusterWith is newCluster with each node's triad.yaml passed through
// edit before the nodes start.
func newClusterWith(t *testing.T, edit func(cfg string) string) *cluster {
	t.Helper()
	t.Setenv("GORACE", "atexit_sleep_ms=0") // the nodes inherit it: no 1s sleep at exit
	base, err := demo.FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := demo.Plan(t.TempDir(), base, clusterName)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if edit == nil {
			break
		}
		b, err := os.ReadFile(n.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(n.ConfigPath, []byte(edit(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	s, err := demo.Start(l, triadBin, log)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, l: l, s: s, stopped: map[string]bool{}}
	t.Cleanup(c.cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := demo.WaitLeader(ctx, l, s); err != nil {
		t.Fatalf("no leader in the new cluster: %v", err)
	}
	c.waitSettled(10 * time.Second)
	return c
}

// waitSettled waits until triadctl status shows a leader and three
// healthy nodes that have all seen its epoch.
func (c *cluster) waitSettled(timeout time.Duration) ctlStatus {
	c.t.Helper()
	return c.waitStatus(timeout, "a leader and three healthy nodes", func(s ctlStatus) bool {
		if s.Leader == nil || len(s.Nodes) != 3 {
			return false
		}
		for _, n := range s.Nodes {
			if !n.Healthy || n.Epoch != s.Epoch {
				return false
			}
		}
		return true
	})
}

func (c *cluster) cleanup() {
	t := c.t
	c.mu.Lock()
	for name := range c.stopped {
		if err := c.s.Signal(name, syscall.SIGCONT); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
	c.mu.Unlock()
	// A node whose etcd peers are gone may take seconds to close its
	// member; these tests do not measure that, so the grace is short.
	if err := c.s.Stop(2 * time.Second); err != nil {
		t.Errorf("stop the cluster: %v", err)
	}
	for _, n := range c.l.Nodes {
		data, err := os.ReadFile(n.LogPath)
		if err != nil {
			t.Errorf("%s: %v", n.Name, err)
			continue
		}
		text := string(data)
		if i := strings.Index(text, "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("the race detector reported a data race in %s (%s):\n%s", n.Name, n.LogPath, text[i:min(len(text), i+8000)])
		}
		if t.Failed() {
			t.Logf("the end of %s's log:\n%s", n.Name, lastLines(text, 60))
		}
	}
	keepOnFailure(t, c.l.Dir)
}

// keepOnFailure copies the regular files under dir (logs, configs, data
// files) to $TRIAD_E2E_KEEP/<test name> when the test failed and the
// variable is set, so a failure can be examined after the temp dir is gone.
func keepOnFailure(t *testing.T, dir string) {
	root := os.Getenv("TRIAD_E2E_KEEP")
	if root == "" || !t.Failed() {
		return
	}
	dst := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		t.Errorf("keep %s in %s: %v", dir, dst, err)
		return
	}
	t.Logf("the cluster's files are kept in %s", dst)
}

// lastLines returns the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// node returns the layout of the node called name.
func (c *cluster) node(name string) demo.Node {
	c.t.Helper()
	n, ok := c.l.Node(name)
	if !ok {
		c.t.Fatalf("no node %q", name)
	}
	return n
}

// names are the nodes' names, in order.
func (c *cluster) names() []string { return slices.Clone(demo.NodeNames) }

// others are the nodes' names but those given.
func (c *cluster) others(not ...string) []string {
	var out []string
	for _, name := range demo.NodeNames {
		if !slices.Contains(not, name) {
			out = append(out, name)
		}
	}
	return out
}

// signal sends sig to name's process.
func (c *cluster) signal(name string, sig syscall.Signal) {
	c.t.Helper()
	if err := c.s.Signal(name, sig); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch sig {
	case syscall.SIGSTOP:
		c.stopped[name] = true
	case syscall.SIGCONT:
		delete(c.stopped, name)
	}
}

// kill sends SIGKILL to name's process, waits until it has been reaped,
// and returns when the signal was sent.
func (c *cluster) kill(name string) time.Time {
	c.t.Helper()
	at := time.Now()
	c.signal(name, syscall.SIGKILL)
	waitFor(c.t, 10*time.Second, name+" to die of SIGKILL", func() bool { return !c.s.Running(name) })
	return at
}

// restart starts every node that has exited again, on its data, and waits
// until each answers GET /health with 200. It returns their names.
func (c *cluster) restart() []string {
	c.t.Helper()
	names, err := c.s.RestartStopped()
	if err != nil {
		c.t.Fatalf("restart: %v", err)
	}
	for _, name := range names {
		waitFor(c.t, 30*time.Second, name+" /health 200 after its restart", func() bool {
			if st := c.s.ExitStatus(name); st != "" {
				c.t.Fatalf("%s exited after its restart (%s)", name, st)
			}
			return c.code(name, http.MethodGet, "/health") == http.StatusOK
		})
	}
	return names
}

// ---- HTTP endpoints ----

// probeHTTP has short timeouts and no kept-alive connections: a killed
// node leaves no stale connection, a stopped one costs a second.
var probeHTTP = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   time.Second,
}

// code returns the status of method path on name's HTTP address, 0 when
// the node does not answer. It is safe to call from any goroutine.
func (c *cluster) code(name, method, path string) int {
	n, ok := c.l.Node(name)
	if !ok {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.HTTPAddr+path, nil)
	if err != nil {
		return 0
	}
	resp, err := probeHTTP.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0
	}
	return resp.StatusCode
}

// leaders asks GET /leader of names in parallel and returns those that
// answered 200.
func (c *cluster) leaders(names []string) []string {
	codes := make([]int, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { codes[i] = c.code(name, http.MethodGet, "/leader") })
	}
	wg.Wait()
	var out []string
	for i, name := range names {
		if codes[i] == http.StatusOK {
			out = append(out, name)
		}
	}
	return out
}

// waitLeader polls GET /leader of names every 20ms until exactly one
// answers 200, and returns it with the time it was seen. Two nodes
// answering 200 in two polls in a row fail the test (one poll could
// straddle a clean hand-over).
func (c *cluster) waitLeader(timeout time.Duration, names ...string) (string, time.Time) {
	c.t.Helper()
	var found string
	var at time.Time
	twice := 0
	waitFor(c.t, timeout, fmt.Sprintf("one leader among %v", names), func() bool {
		ls := c.leaders(names)
		switch len(ls) {
		case 0:
			twice = 0
			return false
		case 1:
			found, at = ls[0], time.Now()
			return true
		}
		if twice++; twice == 2 {
			c.t.Fatalf("two leaders: %v answer GET /leader with 200", ls)
		}
		return false
	})
	return found, at
}

// leader waits up to 10s for the one leader among all nodes.
func (c *cluster) leader() string {
	c.t.Helper()
	name, _ := c.waitLeader(10*time.Second, c.names()...)
	return name
}

// waitLeaderIs polls until name is the one node answering /leader 200.
func (c *cluster) waitLeaderIs(timeout time.Duration, name string) {
	c.t.Helper()
	var last []string
	ok := poll(timeout, func() bool {
		last = c.leaders(c.runningNames())
		return len(last) == 1 && last[0] == name
	})
	if !ok {
		c.t.Fatalf("%s is not the leader after %v: /leader 200 on %v", name, timeout, last)
	}
}

// runningNames are the nodes whose process runs.
func (c *cluster) runningNames() []string {
	var out []string
	for _, name := range c.names() {
		if c.s.Running(name) {
			out = append(out, name)
		}
	}
	return out
}

// waitCode polls method path on name until it answers want.
func (c *cluster) waitCode(timeout time.Duration, name, method, path string, want int) {
	c.t.Helper()
	waitFor(c.t, timeout, fmt.Sprintf("%s %s %s to answer %d", name, method, path, want), func() bool {
		return c.code(name, method, path) == want
	})
}

// nodeHTTPStatus is the part of a node's GET /status the cluster tests read.
type nodeHTTPStatus struct {
	Node    string `json:"node"`
	Cluster string `json:"cluster"`
	Role    string `json:"role"`
	Epoch   int64  `json:"epoch"`
	Leader  string `json:"leader"`
	Healthy bool   `json:"healthy"`
	Serving bool   `json:"serving"`
	Applied uint64 `json:"applied_index"`
}

func (c *cluster) httpStatus(name string) nodeHTTPStatus {
	c.t.Helper()
	var st nodeHTTPStatus
	if err := c.getJSON(name, "/status", &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// getJSON decodes the JSON that GET path on name answers with 200 into v.
func (c *cluster) getJSON(name, path string, v any) error {
	resp, err := probeHTTP.Get("http://" + c.node(name).HTTPAddr + path)
	if err != nil {
		return fmt.Errorf("%s GET %s: %w", name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s GET %s: %s", name, path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s GET %s: %w", name, path, err)
	}
	return nil
}

// ---- MQTT ports ----

// dialRefused reports whether a TCP connection to addr is refused.
func dialRefused(addr string) (bool, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		return false, nil
	}
	return errors.Is(err, syscall.ECONNREFUSED), err
}

// ---- etcd raft leadership ----

// raftLeader returns the node whose embedded etcd member is etcd's raft
// leader, asking each running member through etcd's JSON gateway.
func (c *cluster) raftLeader() string {
	c.t.Helper()
	var found string
	waitFor(c.t, 10*time.Second, "an etcd raft leader", func() bool {
		for _, n := range c.l.Nodes {
			if !c.s.Running(n.Name) {
				continue
			}
			self, leader, err := memberStatus(n.EtcdClientURL)
			if err == nil && self != "" && self == leader {
				found = n.Name
				return true
			}
		}
		return false
	})
	return found
}

// memberStatus asks the etcd member at url for its id and its raft leader's.
func memberStatus(url string) (self, leader string, err error) {
	resp, err := probeHTTP.Post(url+"/v3/maintenance/status", "application/json", strings.NewReader("{}"))
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var st struct {
		Header struct {
			MemberID string `json:"member_id"`
		} `json:"header"`
		Leader string `json:"leader"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "", "", err
	}
	return st.Header.MemberID, st.Leader, nil
}

// ---- triadctl ----

// ctlResult is what one triadctl run did.
type ctlResult struct {
	args           []string
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r ctlResult) String() string {
	return fmt.Sprintf("triadctl %s: exit %d after %v\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// runCtl runs the triadctl binary with args; a run longer than 30s fails
// the test.
func runCtl(t *testing.T, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, triadctlBin, args...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "TRIAD_ETCD=", "TRIAD_CLUSTER=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := ctlResult{args: args, stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("still running after 30s: %v", r)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("triadctl %v: %v", args, err)
	}
	if strings.Contains(r.stderr, "WARNING: DATA RACE") {
		t.Errorf("the race detector reported a data race in triadctl: %v", r)
	}
	return r
}

// endpoints are the etcd client URLs of the running nodes.
func (c *cluster) endpoints() string {
	var eps []string
	for _, n := range c.l.Nodes {
		if c.s.Running(n.Name) {
			eps = append(eps, n.EtcdClientURL)
		}
	}
	return strings.Join(eps, ",")
}

// ctl runs triadctl against the cluster (--etcd: the running members).
func (c *cluster) ctl(args ...string) ctlResult {
	c.t.Helper()
	return runCtl(c.t, append([]string{"--etcd", c.endpoints(), "--cluster", clusterName}, args...)...)
}

// mustCtl runs triadctl against the cluster and fails the test unless it
// exits 0.
func (c *cluster) mustCtl(args ...string) ctlResult {
	c.t.Helper()
	r := c.ctl(args...)
	if r.code != 0 {
		c.t.Fatalf("want exit 0: %v", r)
	}
	return r
}

// ctlStatus is the part of `triadctl status --json` the tests read.
type ctlStatus struct {
	Cluster     string    `json:"cluster"`
	Leader      *string   `json:"leader"`
	Epoch       int64     `json:"epoch"`
	Pin         *string   `json:"pin"`
	PinHonoured bool      `json:"pin_honoured"`
	Paused      bool      `json:"paused"`
	Nodes       []ctlNode `json:"nodes"`
}

// ctlNode is one node in `triadctl status --json`.
type ctlNode struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Leader  bool   `json:"leader"`
	Healthy bool   `json:"healthy"`
	InSync  bool   `json:"in_sync"`
	Epoch   int64  `json:"epoch"`
}

// node returns the node called name, if it is listed.
func (s ctlStatus) node(name string) (ctlNode, bool) {
	i := slices.IndexFunc(s.Nodes, func(n ctlNode) bool { return n.Name == name })
	if i < 0 {
		return ctlNode{}, false
	}
	return s.Nodes[i], true
}

func (s ctlStatus) leaderName() string {
	if s.Leader == nil {
		return ""
	}
	return *s.Leader
}

func (s ctlStatus) pinName() string {
	if s.Pin == nil {
		return ""
	}
	return *s.Pin
}

// status runs `triadctl status --json`, which must succeed.
func (c *cluster) status() ctlStatus {
	c.t.Helper()
	st, err := c.tryStatus()
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// tryStatus runs `triadctl status --json --timeout 3s`.
func (c *cluster) tryStatus() (ctlStatus, error) {
	c.t.Helper()
	var st ctlStatus
	r := c.ctl("status", "--json", "--timeout", "3s")
	if r.code != 0 {
		return st, fmt.Errorf("want exit 0: %v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return st, fmt.Errorf("decode: %w\n%v", err, r)
	}
	return st, nil
}

// waitStatus polls `triadctl status --json` until cond holds and returns
// the status that satisfied it. A failed status command (etcd busy
// electing, say) is polled again.
func (c *cluster) waitStatus(timeout time.Duration, what string, cond func(ctlStatus) bool) ctlStatus {
	c.t.Helper()
	var st ctlStatus
	var last error
	ok := poll(timeout, func() bool {
		var err error
		if st, err = c.tryStatus(); err != nil {
			last = err
			return false
		}
		return cond(st)
	})
	if !ok {
		c.t.Fatalf("timed out after %v waiting for %s in triadctl status --json; last seen %+v (last error: %v)", timeout, what, st, last)
	}
	return st
}

// historyEntry is one element of `triadctl history --json`.
type historyEntry struct {
	Epoch     int64     `json:"epoch"`
	Node      string    `json:"node"`
	Reason    string    `json:"reason"`
	Time      time.Time `json:"time"`
	ElectedAt time.Time `json:"elected_at"`
}

// history runs `triadctl history --json`.
func (c *cluster) history() ([]historyEntry, error) {
	c.t.Helper()
	r := c.ctl("history", "--json", "--timeout", "3s")
	if r.code != 0 {
		return nil, fmt.Errorf("want exit 0: %v", r)
	}
	var h []historyEntry
	if err := json.Unmarshal([]byte(r.stdout), &h); err != nil {
		return nil, fmt.Errorf("decode: %w\n%v", err, r)
	}
	return h, nil
}

// historyHas polls the history for up to timeout for an entry of epoch
// naming node; it reports false with the last history read (or error) if
// none came.
func (c *cluster) historyHas(timeout time.Duration, epoch int64, node string) (bool, []historyEntry, error) {
	c.t.Helper()
	var h []historyEntry
	var err error
	ok := poll(timeout, func() bool {
		if h, err = c.history(); err != nil {
			return false
		}
		return slices.ContainsFunc(h, func(e historyEntry) bool { return e.Epoch == epoch && e.Node == node })
	})
	return ok, h, err
}
