package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/lbagent"
)

// haproxyBinary returns the haproxy to run; it skips under -short and
// fails when none is installed (scripts/deps.sh installs Debian's).
func haproxyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a real haproxy")
	}
	bin, err := FindHAProxy()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestHAProxyConfig: the haproxy.cfg the demo writes passes `haproxy -c`
// without a warning and says what the demo promises.
func TestHAProxyConfig(t *testing.T) {
	bin := haproxyBinary(t)
	l, err := NewLayout(t.TempDir(), 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteProxyFiles(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-c", "-f", l.Proxy.ConfigPath).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("haproxy -c -f %s: %v\n%s", l.Proxy.ConfigPath, err, out)
	}
	data, err := os.ReadFile(l.Proxy.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(data)
	for _, want := range []string{
		"\n    stats socket " + l.Proxy.Socket + " mode 600 level admin\n",
		"\n    server-state-file " + l.Proxy.StateFile + "\n",
		"\n    load-server-state-from-file global\n",
		"\n    mode tcp\n",
		"\n    timeout client 1h\n",
		"\n    timeout server 1h\n",
		"\nfrontend mqtt\n    bind 127.0.0.1:21913\n    default_backend triad\n",
		"\nbackend triad\n    option httpchk GET /leader\n    http-check expect status 200\n",
		" fall 2 rise 1 on-marked-down shutdown-sessions\n",
		"\n    server n1 127.0.0.1:21883 check port 21884 send-proxy-v2\n",
		"\n    server n2 127.0.0.1:21893 check port 21894 send-proxy-v2\n",
		"\n    server n3 127.0.0.1:21903 check port 21904 send-proxy-v2\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", want, cfg)
		}
	}
	for _, line := range strings.Split(cfg, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && slices.Contains([]string{"daemon", "user", "group", "chroot"}, f[0]) {
			t.Errorf("haproxy.cfg has %q: the demo runs haproxy in the foreground as its own user", line)
		}
	}
	state, err := os.ReadFile(l.Proxy.StateFile)
	if err != nil || string(state) != emptyServerState {
		t.Errorf("server state file: %q, %v; want %q", state, err, emptyServerState)
	}
}

// TestAgentConfig: lbagent.yaml loads in triad-lbagent and follows the
// demo's cluster through the demo's HAProxy.
func TestAgentConfig(t *testing.T) {
	l, err := NewLayout(t.TempDir(), 21883, "demo-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteProxyFiles(); err != nil {
		t.Fatal(err)
	}
	cfg, err := lbagent.LoadConfig(l.Proxy.AgentConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.Cluster, cfg.Etcd.Endpoints, cfg.HAProxy.Socket, cfg.HAProxy.Backend, cfg.Servers, cfg.ReconcileInterval.D(), cfg.Log.Level}
	want := []any{"demo-2", l.EtcdEndpoints(), l.Proxy.Socket, "triad", map[string]string{"n1": "n1", "n2": "n2", "n3": "n3"}, 250 * time.Millisecond, "info"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lbagent.yaml: %v, want %v", got, want)
	}
}

func TestProxyLayout(t *testing.T) {
	l, err := NewLayout("rel", 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Proxy
	got := []string{p.MQTTAddr, p.Dir, p.ConfigPath, p.Socket, p.StateFile, p.LogPath, p.AgentConfigPath, p.AgentLogPath}
	hd := filepath.Join(l.Dir, "haproxy")
	want := []string{"127.0.0.1:21913", hd, filepath.Join(hd, "haproxy.cfg"), filepath.Join(hd, "admin.sock"),
		filepath.Join(hd, "server-state"), filepath.Join(hd, "haproxy.log"),
		filepath.Join(l.Dir, "lbagent.yaml"), filepath.Join(l.Dir, "lbagent.log")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("proxy layout %q, want %q", got, want)
	}
}

func TestHAProxyConfigRejectsLongSocketPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	l, err := NewLayout(dir, 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	err = l.WriteProxyFiles()
	if err == nil || !strings.Contains(err.Error(), l.Proxy.Socket) || !strings.Contains(err.Error(), "shorter --dir") {
		t.Fatalf("WriteProxyFiles: %v, want an error naming the socket and asking for a shorter --dir", err)
	}
	if _, err := os.Stat(l.Proxy.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s created although the config is refused: %v", l.Proxy.Dir, err)
	}
}

// TestWriteProxyFilesKeepsServerState: a state file saved by an operator
// is loaded, not overwritten.
func TestWriteProxyFilesKeepsServerState(t *testing.T) {
	l, err := NewLayout(t.TempDir(), 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l.Proxy.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const saved = "1\n# be_id be_name srv_id ...\n"
	if err := os.WriteFile(l.Proxy.StateFile, []byte(saved), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteProxyFiles(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(l.Proxy.StateFile); err != nil || string(got) != saved {
		t.Errorf("state file %q, %v; want it kept", got, err)
	}
}

// executable writes an empty executable file called name in dir.
func executable(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindHAProxy(t *testing.T) {
	pathDir, other := t.TempDir(), t.TempDir()
	t.Setenv("PATH", pathDir)
	old := haproxyFallback
	t.Cleanup(func() { haproxyFallback = old })
	haproxyFallback = filepath.Join(other, "haproxy")

	_, err := FindHAProxy()
	for _, want := range []string{haproxyFallback, "apt-get install haproxy", "--no-haproxy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no haproxy: %v, want an error with %q", err, want)
		}
	}
	fallback := executable(t, other, "haproxy")
	if got, err := FindHAProxy(); err != nil || got != fallback {
		t.Errorf("haproxy at the fallback only: %q, %v", got, err)
	}
	inPath := executable(t, pathDir, "haproxy")
	if got, err := FindHAProxy(); err != nil || got != inPath {
		t.Errorf("haproxy in PATH too: %q, %v; want %q", got, err, inPath)
	}
}

func TestFindLBAgent(t *testing.T) {
	binDir, pathDir := t.TempDir(), t.TempDir()
	t.Setenv("PATH", pathDir)
	triad := executable(t, binDir, "triad")

	_, err := FindLBAgent(triad)
	for _, want := range []string{"triad-lbagent is not beside " + triad, "make build", "go build -o bin/ ./cmd/triad-lbagent", "--no-haproxy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no triad-lbagent: %v, want an error with %q", err, want)
		}
	}
	inPath := executable(t, pathDir, LBAgentBinary)
	if got, err := FindLBAgent(triad); err != nil || got != inPath {
		t.Errorf("triad-lbagent in PATH: %q, %v", got, err)
	}
	beside := executable(t, binDir, LBAgentBinary)
	if got, err := FindLBAgent(triad); err != nil || got != beside {
		t.Errorf("triad-lbagent beside triad and in PATH: %q, %v; want %q", got, err, beside)
	}
}

// TestRunWithoutProxyBinaries: with no haproxy and no triad-lbagent, Run
// says what to install or build, and starts nothing.
func TestRunWithoutProxyBinaries(t *testing.T) {
	l, _ := fakeCluster(t)
	t.Setenv("PATH", t.TempDir())
	old := haproxyFallback
	t.Cleanup(func() { haproxyFallback = old })
	haproxyFallback = filepath.Join(t.TempDir(), "haproxy")

	err := Run(context.Background(), l, Options{Binary: testBinary(t)})
	for _, want := range []string{"apt-get install haproxy", "make build", "--no-haproxy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v, want an error with %q", err, want)
		}
	}
	err = Run(context.Background(), l, Options{Binary: testBinary(t), HAProxy: "/nonexistent/haproxy", LBAgent: "/nonexistent/triad-lbagent"})
	for _, want := range []string{`haproxy binary "/nonexistent/haproxy"`, `triad-lbagent binary "/nonexistent/triad-lbagent"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run with binaries that do not exist: %v, want an error with %q", err, want)
		}
	}
	if _, err := os.Stat(l.ManifestPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo.json written although nothing started: %v", err)
	}
}

// TestRunWithHAProxy: fake nodes and agent, a real haproxy. demo.json
// names HAProxy and the agent; the guide gives the one address; a client
// reaches the leader through it, and the next leader after a change;
// a killed haproxy is logged and restarted on request; cancelling stops
// everything.
func TestRunWithHAProxy(t *testing.T) {
	l, leaderFile := fakeCluster(t)
	setLeader(t, leaderFile, "n2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	restart := make(chan struct{})
	out, logs, errc := runDemo(t, ctx, l, Options{HAProxy: haproxyBinary(t), LBAgent: testBinary(t), Restart: restart})
	waitOutput(t, out, errc, "Stop: Ctrl-C")

	m := readManifest(t, l)
	if m.MQTT != l.Proxy.MQTTAddr || m.HAProxySocket != l.Proxy.Socket || !alive(m.HAProxyPID) || !alive(m.LBAgentPID) ||
		slices.Contains(pids(m), m.HAProxyPID) || slices.Contains(pids(m), m.LBAgentPID) || m.HAProxyPID == m.LBAgentPID {
		t.Fatalf("demo.json %+v: want the proxy's address, socket and two running pids of its own", m)
	}
	port := strings.TrimPrefix(l.Proxy.MQTTAddr, Host+":")
	for _, want := range []string{
		"Leader: n2, pid " + fmt.Sprint(m.Nodes[1].PID) + ". Clients use ONE address, HAProxy's: " + l.Proxy.MQTTAddr,
		"mosquitto_sub -h 127.0.0.1 -p " + port + " -i demo-sub -c -q 1 -t t -v",
		"mosquitto_pub -h 127.0.0.1 -p " + port + " -t t -m hello -q 1\n",
		fmt.Sprintf("kill -9 %d   (the leader, n2)", m.Nodes[1].PID),
		"bin/triadctl --etcd " + strings.Join(l.EtcdEndpoints(), ",") + " --cluster fake status --watch\n",
		fmt.Sprintf("  haproxy  %d", m.HAProxyPID),
		fmt.Sprintf("kill -HUP %d", os.Getpid()),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the guide lacks %q", want)
		}
	}
	probeCtx, probeCancel := context.WithTimeout(ctx, 30*time.Second)
	defer probeCancel()
	if err := ProbeMQTT(probeCtx, l.Proxy.MQTTAddr); err != nil {
		t.Fatalf("through haproxy right after the guide: %v", err)
	}

	setLeader(t, leaderFile, "n3") // the fake n2 now closes every connection
	waitOutput(t, out, errc, "leader: n3 (mqtt "+l.Nodes[2].MQTTAddr)
	waitFor(t, 10*time.Second, "a client through haproxy to n3", func() bool { return ProbeMQTT(probeCtx, l.Proxy.MQTTAddr) == nil })

	if err := syscall.Kill(m.HAProxyPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the exit of haproxy in the log", func() bool {
		return strings.Contains(logs.String(), `msg="process exited unexpectedly; the others keep running" process=haproxy`)
	})
	restart <- struct{}{}
	waitOutput(t, out, errc, "restarted haproxy: pid")
	m2 := readManifest(t, l)
	if m2.HAProxyPID == m.HAProxyPID || !alive(m2.HAProxyPID) || m2.LBAgentPID != m.LBAgentPID {
		t.Fatalf("after the restart demo.json names haproxy %d (was %d), agent %d (was %d)", m2.HAProxyPID, m.HAProxyPID, m2.LBAgentPID, m.LBAgentPID)
	}
	waitFor(t, 10*time.Second, "a client through the restarted haproxy", func() bool { return ProbeMQTT(probeCtx, l.Proxy.MQTTAddr) == nil })

	cancel()
	if err := waitRun(t, errc); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, pid := range append(pids(m), m.HAProxyPID, m2.HAProxyPID, m.LBAgentPID) {
		if alive(pid) {
			t.Errorf("pid %d still exists after Run returned", pid)
		}
	}
	if got := strings.Count(logs.String(), `msg="process stopped"`); got != 2 {
		t.Errorf("%d proxy processes logged as stopped, want 2", got)
	}
	if !strings.Contains(out.String(), "Stopping the nodes, HAProxy and triad-lbagent") {
		t.Errorf("no stop message in the output")
	}
}

// TestStartProxyHAProxyFails: an haproxy that exits at once is reported
// with the end of its log, and nothing is left running.
func TestStartProxyHAProxyFails(t *testing.T) {
	l, _ := fakeCluster(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "haproxy")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho 'cannot bind socket' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := StartProxy(l, testBinary(t), bad, nil)
	for _, want := range []string{"haproxy exited during start (exit status 1)", "cannot bind socket", l.Proxy.LogPath} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("StartProxy: %v, want an error with %q", err, want)
		}
	}
}

// TestProbeMQTT against small fake servers: the CONNECT is valid MQTT
// 3.1.1, an accepting CONNACK is success, anything else an error.
func TestProbeMQTT(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte // nil: close without answering
		want  string // "" for success
	}{
		{"accepted", []byte{0x20, 2, 0, 0}, ""},
		{"session present", []byte{0x20, 2, 1, 0}, ""},
		{"refused", []byte{0x20, 2, 0, 5}, "CONNACK 20 02 00 05"},
		{"closed", nil, "closed before a CONNACK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan packets.Packet, 1)
			go fakeBroker(t, ln, tc.reply, got)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = ProbeMQTT(ctx, ln.Addr().String())
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("ProbeMQTT: %v, want %q", err, tc.want)
			}
			pk := <-got
			c := pk.Connect
			if string(c.ProtocolName) != "MQTT" || pk.ProtocolVersion != 4 || !c.Clean || !strings.HasPrefix(string(c.ClientIdentifier), "triad-demo-probe-") {
				t.Errorf("CONNECT %+v", pk)
			}
		})
	}
}

// fakeBroker accepts one connection on ln, decodes its CONNECT (sent to
// got), and answers reply, or closes the connection if reply is nil.
func fakeBroker(t *testing.T, ln net.Listener, reply []byte, got chan<- packets.Packet) {
	var pk packets.Packet
	defer func() { got <- pk }()
	c, err := ln.Accept()
	if err != nil {
		t.Errorf("accept: %v", err)
		return
	}
	defer c.Close()
	r := bufio.NewReader(c)
	b, err := r.ReadByte()
	if err == nil {
		err = pk.FixedHeader.Decode(b)
	}
	n := 0
	if err == nil {
		n, _, err = packets.DecodeLength(r)
	}
	body := make([]byte, n)
	if err == nil {
		_, err = io.ReadFull(r, body)
	}
	if err == nil {
		pk.ProtocolVersion = 4
		err = pk.ConnectDecode(body)
	}
	if err != nil || pk.FixedHeader.Type != packets.Connect {
		t.Errorf("read CONNECT: %v (%+v)", err, pk.FixedHeader)
		return
	}
	if reply != nil {
		if _, err := c.Write(reply); err != nil {
			t.Errorf("write: %v", err)
		}
	}
}
