//go:build chaos && linux

package chaos

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triadmq/triad/demo"
	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/internal/pki"
	"github.com/triadmq/triad/lbagent"
	"github.com/triadmq/triad/sync/state"
)

// The hosts of the chaos network, in address order (subnet.1 …).
var (
	nodeNames = []string{"n1", "n2", "n3"}
	etcdNames = []string{"e1", "e2", "e3"}
	hostNames = []string{"n1", "n2", "n3", "e1", "e2", "e3", "lb", "cl"}
)

const (
	subnet      = "10.77.0"
	clusterName = "chaos"
	mqttPort    = "1883"
	httpPort    = "8080"
	replPort    = "7000"
	// dataSize is the size of the tmpfs each node's data lives on: room for
	// the run, small enough to fill in a moment.
	dataSize = "256m"
)

// env is the chaos cluster: three triad nodes, three etcd members, HAProxy
// and triad-lbagent (host lb), and the clients (host cl, this process's
// sockets made in its namespace), each host a namespace of net.
type env struct {
	t     *testing.T
	net   *Net
	dir   string
	nodes map[string]*Proc
	etcd  map[string]*Proc
	hap   *Proc
	agent *Proc
	proxy *demo.Layout // the paths and configs of HAProxy and the agent
	http  *http.Client // from cl
}

// newEnv builds the network, starts everything and waits for a leader
// with both followers in sync. Cleanup stops it all and removes the
// namespaces and mounts.
func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the chaos harness needs root: it makes network namespaces and mounts (run `sudo make chaos-quick`)")
	}
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	var id [3]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	n, err := NewNet("tc"+hex.EncodeToString(id[:]), subnet, hostNames...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, net: n, dir: t.TempDir(), nodes: map[string]*Proc{}, etcd: map[string]*Proc{}}
	t.Cleanup(e.cleanup)
	e.http = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return n.DialContext(ctx, "cl", addr)
		},
	}}
	t.Logf("network: %s.0/24 in namespaces %s-*; netem available: %v", subnet, n.prefix, n.Netem())
	e.startEtcd()
	e.startNodes()
	e.startProxy()
	e.waitInSync(60*time.Second, 2)
	return e
}

func (e *env) ip(host string) string { return e.net.Host(host).IP }

func (e *env) endpoints() []string {
	var eps []string
	for _, m := range etcdNames {
		eps = append(eps, "http://"+e.ip(m)+":2379")
	}
	return eps
}

func (e *env) startEtcd() {
	var members []string
	for _, m := range etcdNames {
		members = append(members, m+"=http://"+e.ip(m)+":2380")
	}
	for _, m := range etcdNames {
		dir := filepath.Join(e.dir, m)
		p := &Proc{Name: m, Host: m, Log: dir + ".log", Argv: []string{etcdBin,
			"-name", m, "-dir", dir, "-ip", e.ip(m), "-cluster", strings.Join(members, ",")}}
		e.etcd[m] = p
		if err := p.Start(e.net); err != nil {
			e.t.Fatal(err)
		}
	}
}

// startNodes writes each node's certificates and triad.yaml, mounts a
// small tmpfs on its data directory and starts it.
func (e *env) startNodes() {
	certs := filepath.Join(e.dir, "certs")
	o := pki.InitOptions{Dir: certs, Cluster: clusterName, Force: true}
	for _, name := range nodeNames {
		o.Nodes = append(o.Nodes, pki.NodeSpec{Name: name, Hosts: []string{e.ip(name)}})
	}
	if _, err := pki.Init(o); err != nil {
		e.t.Fatal(err)
	}
	for _, name := range nodeNames {
		dir := filepath.Join(e.dir, name)
		data := e.dataDir(name)
		if err := os.MkdirAll(data, 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := run("mount", "-t", "tmpfs", "-o", "size="+dataSize, "tmpfs", data); err != nil {
			e.t.Fatal(err)
		}
		ip := e.ip(name)
		cfg := fmt.Sprintf(`node:
  name: %s
  data_dir: %s
cluster:
  name: %s
  lease_ttl: 2s
  fence_margin: 500ms
  etcd:
    endpoints: [%s]
  replication:
    address: %s
    tls:
      ca: %s
      cert: %s
      key: %s
mqtt:
  listeners:
    - type: tcp
      address: %s
      proxy_protocol:
        trusted: [%s/32]
  limits:
    max_queued_messages: 100000
http:
  address: %s
log:
  level: %s
`, name, data, clusterName, strings.Join(e.endpoints(), ", "), net.JoinHostPort(ip, replPort),
			filepath.Join(certs, pki.CAFile), filepath.Join(certs, pki.CertFile(name)), filepath.Join(certs, pki.KeyFile(name)),
			net.JoinHostPort(ip, mqttPort), e.ip("lb"), net.JoinHostPort(ip, httpPort), cmp.Or(os.Getenv("TRIAD_CHAOS_LOG_LEVEL"), "info"))
		path := e.configPath(name)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			e.t.Fatal(err)
		}
		p := &Proc{Name: name, Host: name, Log: filepath.Join(dir, "triad.log"), Argv: []string{triadBin, "run", "--config", path}}
		e.nodes[name] = p
		if err := p.Start(e.net); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) configPath(node string) string { return filepath.Join(e.dir, node, "triad.yaml") }

func (e *env) dataDir(node string) string { return filepath.Join(e.dir, node, "data") }

// startProxy writes HAProxy's and the agent's configs (the demo's, on the
// namespaces' addresses) and starts both in host lb.
func (e *env) startProxy() {
	l := &demo.Layout{Dir: e.dir, Cluster: clusterName, Proxy: demo.ProxyLayout{
		MQTTAddr:        net.JoinHostPort(e.ip("lb"), mqttPort),
		Dir:             filepath.Join(e.dir, "haproxy"),
		ConfigPath:      filepath.Join(e.dir, "haproxy", "haproxy.cfg"),
		Socket:          filepath.Join(e.dir, "haproxy", "admin.sock"),
		StateFile:       filepath.Join(e.dir, "haproxy", "server-state"),
		LogPath:         filepath.Join(e.dir, "haproxy", "haproxy.log"),
		AgentConfigPath: filepath.Join(e.dir, "lbagent.yaml"),
		AgentLogPath:    filepath.Join(e.dir, "lbagent.log"),
	}}
	for i, name := range nodeNames {
		l.Nodes = append(l.Nodes, demo.Node{
			Name:          name,
			MQTTAddr:      net.JoinHostPort(e.ip(name), mqttPort),
			HTTPAddr:      net.JoinHostPort(e.ip(name), httpPort),
			EtcdClientURL: e.endpoints()[i],
		})
	}
	if err := l.WriteProxyFiles(); err != nil {
		e.t.Fatal(err)
	}
	hap, err := demo.FindHAProxy()
	if err != nil {
		e.t.Fatal(err)
	}
	e.proxy = l
	e.hap = &Proc{Name: "haproxy", Host: "lb", Log: l.Proxy.LogPath, Argv: []string{hap, "-f", l.Proxy.ConfigPath, "-db"}}
	e.agent = &Proc{Name: "triad-lbagent", Host: "lb", Log: l.Proxy.AgentLogPath, Argv: []string{agentBin, "run", "--config", l.Proxy.AgentConfigPath}}
	e.startHAProxy()
	if err := e.agent.Start(e.net); err != nil {
		e.t.Fatal(err)
	}
}

// startHAProxy starts HAProxy and waits until its Runtime API answers.
func (e *env) startHAProxy() {
	e.t.Helper()
	if err := e.hap.Start(e.net); err != nil {
		e.t.Fatal(err)
	}
	rt, err := lbagent.NewRuntime(e.proxy.Proxy.Socket, time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(10*time.Second, "HAProxy's Runtime API", func() bool {
		_, err := rt.Do(context.Background(), "show info")
		return err == nil
	})
}

func (e *env) cleanup() {
	t := e.t
	if t.Failed() {
		// Every goroutine's stack into the nodes' logs, for the diagnosis.
		for _, name := range nodeNames {
			if p := e.nodes[name]; p.Running() {
				if err := p.Signal(syscall.SIGQUIT); err != nil {
					t.Logf("cleanup: %v", err)
				}
				p.Wait(5 * time.Second)
			}
		}
	}
	for _, p := range e.all() {
		if err := p.Stop(3 * time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if keep := os.Getenv("TRIAD_CHAOS_KEEP"); keep != "" && t.Failed() {
		dst := filepath.Join(keep, fmt.Sprintf("%s-%s", t.Name(), e.net.prefix))
		if err := run("cp", "-a", e.dir, dst); err != nil {
			t.Errorf("keep the run's files: %v", err)
		} else {
			t.Logf("the run's files (logs, configs, data) are kept in %s", dst)
		}
	}
	for _, name := range nodeNames {
		if err := run("umount", e.dataDir(name)); err != nil && !strings.Contains(err.Error(), "not mounted") {
			t.Errorf("cleanup: %v", err)
		}
	}
	if err := e.net.Close(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, p := range e.all() {
		data, err := os.ReadFile(p.Log)
		if err != nil {
			continue
		}
		text := string(data)
		if i := strings.Index(text, "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("the race detector reported a data race in %s:\n%s", p.Name, text[i:min(len(text), i+8000)])
		}
		if t.Failed() {
			t.Logf("the end of %s's log (%s):\n%s", p.Name, p.Log, lastLines(text, 40))
		}
	}
}

// keepHistory writes every recorded operation, one JSON object a line, to
// history.jsonl in the run's directory, which TRIAD_CHAOS_KEEP keeps.
func (e *env) keepHistory(ops []Op) {
	f, err := os.Create(filepath.Join(e.dir, "history.jsonl"))
	if err != nil {
		e.t.Errorf("keep the history: %v", err)
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			e.t.Errorf("keep the history: %v", err)
			return
		}
	}
}

func (e *env) all() []*Proc {
	var ps []*Proc
	for _, name := range nodeNames {
		ps = append(ps, e.nodes[name])
	}
	for _, name := range etcdNames {
		ps = append(ps, e.etcd[name])
	}
	return append(ps, e.agent, e.hap)
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitFor polls cond every 50ms until it holds or timeout passes, and
// fails the test then.
func (e *env) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	if !poll(timeout, cond) {
		e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	return true
}

// ---- asking the nodes ----

// get GETs path on node's HTTP address from cl and decodes a 200's JSON
// body into v (when v is not nil); it returns the status code, 0 if the
// node did not answer.
func (e *env) get(node, path string, v any) (int, error) {
	resp, err := e.http.Get("http://" + net.JoinHostPort(e.ip(node), httpPort) + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return resp.StatusCode, fmt.Errorf("%s GET %s: %w", node, path, err)
		}
	}
	return resp.StatusCode, nil
}

// leaders returns the nodes answering GET /leader with 200.
func (e *env) leaders() []string {
	var out []string
	for _, n := range nodeNames {
		if code, _ := e.get(n, "/leader", nil); code == http.StatusOK {
			out = append(out, n)
		}
	}
	return out
}

// leader waits for exactly one node to answer /leader 200 and returns it.
func (e *env) leader(timeout time.Duration) string {
	e.t.Helper()
	var ls []string
	e.waitFor(timeout, "one leader", func() bool { ls = e.leaders(); return len(ls) == 1 })
	return ls[0]
}

// ctl runs triadctl in host cl against the etcd members.
func (e *env) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{triadctlBin, "--etcd", strings.Join(e.endpoints(), ","), "--cluster", clusterName}, args...)
	cmd := e.net.Command("cl", argv...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("triadctl %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// status is the part of `triadctl status --json` the harness reads.
type status struct {
	Leader *string `json:"leader"`
	Nodes  []struct {
		Name    string `json:"name"`
		Healthy bool   `json:"healthy"`
		InSync  bool   `json:"in_sync"`
	} `json:"nodes"`
}

// waitInSync waits for a leader with want followers healthy and in sync.
func (e *env) waitInSync(timeout time.Duration, want int) {
	e.t.Helper()
	var last string
	ok := poll(timeout, func() bool {
		out, err := e.ctl("status", "--json", "--timeout", "3s")
		if err != nil {
			last = err.Error()
			return false
		}
		last = out
		var st status
		if err := json.Unmarshal([]byte(out), &st); err != nil || st.Leader == nil {
			return false
		}
		n := 0
		for _, nd := range st.Nodes {
			if nd.Name != *st.Leader && nd.Healthy && nd.InSync {
				n++
			}
		}
		return n >= want
	})
	if !ok {
		e.t.Fatalf("no leader with %d followers in sync after %v; last status: %s", want, timeout, last)
	}
}

// history returns the leaderships `triadctl history --json` lists.
func (e *env) history() []Leadership {
	e.t.Helper()
	var hs []election.HistoryEntry
	ok := poll(30*time.Second, func() bool {
		out, err := e.ctl("history", "--json", "--timeout", "3s")
		return err == nil && json.Unmarshal([]byte(out), &hs) == nil
	})
	if !ok {
		e.t.Fatal("triadctl history --json failed for 30s")
	}
	ls := make([]Leadership, len(hs))
	for i, h := range hs {
		since := h.ElectedAt
		if since.IsZero() {
			since = h.Time
		}
		ls[i] = Leadership{Epoch: h.Epoch, Node: h.Node, Since: since}
	}
	return ls
}

// waitSameState waits until the three nodes' GET /state/digest agree.
func (e *env) waitSameState(timeout time.Duration) state.Digest {
	e.t.Helper()
	var last []state.Digest
	ok := poll(timeout, func() bool {
		last = last[:0]
		for _, n := range nodeNames {
			var d state.Digest
			if code, err := e.get(n, "/state/digest", &d); err != nil || code != http.StatusOK {
				return false
			}
			last = append(last, d)
		}
		return last[0].Applied > 0 && last[0] == last[1] && last[1] == last[2]
	})
	if !ok {
		e.t.Fatalf("the nodes' states differ after %v: %+v", timeout, last)
	}
	return last[0]
}

// ---- processes ----

func (e *env) kill(p *Proc) {
	e.t.Helper()
	if err := p.Kill(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) signal(p *Proc, sig syscall.Signal) {
	e.t.Helper()
	if err := p.Signal(sig); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) start(p *Proc) {
	e.t.Helper()
	if err := p.Start(e.net); err != nil {
		e.t.Fatal(err)
	}
}

// restartNodes starts every node that is not running.
func (e *env) restartNodes() {
	e.t.Helper()
	for _, n := range nodeNames {
		if !e.nodes[n].Running() {
			e.start(e.nodes[n])
		}
	}
}
