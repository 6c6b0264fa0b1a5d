package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests here build the real triad and triad-lbagent binaries (with
// -race), side by side as make build does, and run them.

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// triadBinary builds cmd/triad, and cmd/triad-lbagent beside it, once per
// test run; it skips under -short.
func triadBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the triad binary")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "triad-demo-bin-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "triad")
		out, err := exec.Command("go", "build", "-race", "-o", buildDir+string(filepath.Separator),
			"github.com/triadmq/triad/cmd/triad", "github.com/triadmq/triad/cmd/triad-lbagent").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build triad and triad-lbagent: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func cleanupBuild() {
	if buildDir != "" {
		if err := os.RemoveAll(buildDir); err != nil {
			fmt.Fprintln(os.Stderr, "demo tests:", err)
		}
	}
}

// checkLogs fails the test if a node's log or the agent's holds a race
// report, and logs every log if the test failed.
func checkLogs(t *testing.T, l *Layout) {
	t.Helper()
	logs := map[string]string{AgentProcess: l.Proxy.AgentLogPath, HAProxyProcess: l.Proxy.LogPath}
	names := []string{AgentProcess, HAProxyProcess}
	for _, n := range l.Nodes {
		logs[n.Name] = n.LogPath
		names = append(names, n.Name)
	}
	for _, name := range names {
		data, err := os.ReadFile(logs[name])
		if errors.Is(err, os.ErrNotExist) && (name == AgentProcess || name == HAProxyProcess) {
			continue // not started
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(string(data), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a data race in %s:\n%s", name, data)
		} else if t.Failed() {
			t.Logf("%s log:\n%s", name, data)
		}
	}
}

func httpStatus(url string) int {
	resp, err := probeClient.Get(url)
	if err != nil {
		return 0
	}
	if err := resp.Body.Close(); err != nil {
		return 0
	}
	return resp.StatusCode
}

// TestDemoCommand runs `triad demo`: demo.json names three running nodes,
// each answers GET /health, one leads, and HAProxy and triad-lbagent run
// in front of them; an MQTT client reaches the leader through HAProxy's
// one address, and again after a kill -9 of the leader; SIGINT stops
// them all and the command exits 0.
func TestDemoCommand(t *testing.T) {
	bin := triadBinary(t)
	haproxyBinary(t) // triad demo finds it itself; this fails early without one
	base, err := FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := NewLayout(dir, base, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "demo", "--dir", dir, "--base-port", strconv.Itoa(base), "--cluster", "e2e")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default: // the test failed half-way: leave nothing behind
			if err := cmd.Process.Kill(); err != nil {
				t.Logf("kill triad demo: %v", err)
			}
			<-done
		}
		if t.Failed() {
			t.Logf("triad demo stdout:\n%s\nstderr:\n%s", &out, &errOut)
		}
		checkLogs(t, l)
	})
	running := func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("triad demo exited early: %v", err)
		default:
		}
		return true
	}

	var m *Manifest
	waitFor(t, 60*time.Second, "demo.json", func() bool {
		running()
		m, err = ReadManifest(l.ManifestPath())
		return err == nil
	})
	if m.Cluster != "e2e" || m.DemoPID != cmd.Process.Pid || len(m.Nodes) != 3 || !slices.Equal(m.Etcd, l.EtcdEndpoints()) {
		t.Fatalf("demo.json: %+v", m)
	}
	for i, n := range m.Nodes {
		want := l.Nodes[i]
		if n.Name != want.Name || n.MQTT != want.MQTTAddr || n.HTTP != want.HTTPAddr || n.Config != want.ConfigPath || n.Log != want.LogPath {
			t.Errorf("demo.json node %d: %+v, want the layout's %+v", i, n, want)
		}
		if !alive(n.PID) || n.PID == cmd.Process.Pid || slices.Contains(pids(m)[:i], n.PID) {
			t.Errorf("%s: pid %d is not a running child of its own", n.Name, n.PID)
		}
	}

	waitFor(t, 60*time.Second, "a leader (the guide)", func() bool {
		return running() && strings.Contains(out.String(), "Stop: Ctrl-C")
	})
	for _, n := range l.Nodes {
		waitFor(t, 10*time.Second, n.Name+" GET /health 200", func() bool {
			return httpStatus("http://"+n.HTTPAddr+"/health") == http.StatusOK
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ps := ProbeAll(ctx, l); !allHealthyWithoutLeaderEndpoint(ps) {
		if leaders := Leaders(ps); len(leaders) != 1 || !strings.Contains(out.String(), "Leader: "+leaders[0]+",") {
			t.Errorf("leaders %v (%s), and the guide says:\n%s", leaders, summary(ps), &out)
		}
	}
	if m, err = ReadManifest(l.ManifestPath()); err != nil {
		t.Fatal(err)
	}
	if m.MQTT != l.Proxy.MQTTAddr || m.HAProxySocket != l.Proxy.Socket || !alive(m.HAProxyPID) || !alive(m.LBAgentPID) {
		t.Fatalf("demo.json after the guide: %+v, want HAProxy at %s and running pids", m, l.Proxy.MQTTAddr)
	}
	if err := ProbeMQTT(ctx, m.MQTT); err != nil {
		t.Fatalf("MQTT through HAProxy: %v", err)
	}
	failOverThroughProxy(t, l, m, &out, running)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("triad demo after SIGINT: %v, want exit status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("triad demo still running 30s after SIGINT")
	}
	for _, n := range m.Nodes {
		if alive(n.PID) {
			t.Errorf("%s (pid %d) still exists after triad demo exited", n.Name, n.PID)
		}
	}
	if alive(m.HAProxyPID) || alive(m.LBAgentPID) {
		t.Errorf("haproxy (pid %d) or triad-lbagent (pid %d) still exists after triad demo exited", m.HAProxyPID, m.LBAgentPID)
	}
	if !strings.Contains(out.String(), "Stopping the nodes") {
		t.Errorf("no stop message in the output")
	}
}

// failOverThroughProxy kills the leader the guide names with -9 and waits
// until an MQTT client reaches the next one through HAProxy's address.
func failOverThroughProxy(t *testing.T, l *Layout, m *Manifest, out *syncBuffer, running func() bool) {
	t.Helper()
	var leader ManifestNode
	for _, n := range m.Nodes {
		if strings.Contains(out.String(), fmt.Sprintf("kill -9 %d   (the leader, %s)", n.PID, n.Name)) {
			leader = n
		}
	}
	if leader.PID == 0 {
		t.Fatalf("the guide names no leader's pid:\n%s", out)
	}
	if err := syscall.Kill(leader.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, 20*time.Second, "a new leader in the output", func() bool {
		return running() && strings.Count(out.String(), "; clients reach it through HAProxy at "+l.Proxy.MQTTAddr) > 0
	})
	waitFor(t, 20*time.Second, "an MQTT client through HAProxy after the kill", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return ProbeMQTT(ctx, l.Proxy.MQTTAddr) == nil
	})
	t.Logf("killed the leader %s; a client reached the next one through HAProxy %v later", leader.Name, time.Since(killed).Round(time.Millisecond))
}

// TestFailoverWithRealNodes uses the package as an end-to-end harness:
// kill -9 the leader, another node leads, the killed one comes back.
func TestFailoverWithRealNodes(t *testing.T) {
	bin := triadBinary(t)
	base, err := FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Plan(t.TempDir(), base, "failover")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	logs := &syncBuffer{}
	s, err := Start(l, bin, testLogger(t, logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(10 * time.Second); err != nil {
			t.Errorf("Stop: %v", err)
		}
		checkLogs(t, l)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first, err := WaitLeader(ctx, l, s)
	if err != nil {
		t.Fatal(err)
	}
	if first.Unknown {
		t.Skip("this triad has no GET /leader")
	}
	if err := s.Signal(first.Node.Name, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var next string
	waitFor(t, 30*time.Second, "a new leader", func() bool {
		leaders := Leaders(ProbeAll(ctx, l))
		if len(leaders) == 1 && leaders[0] != first.Node.Name {
			next = leaders[0]
			return true
		}
		return false
	})
	t.Logf("leader %s killed, %s leads", first.Node.Name, next)
	names, err := s.RestartStopped()
	if err != nil || !slices.Equal(names, []string{first.Node.Name}) {
		t.Fatalf("RestartStopped: %v, %v", names, err)
	}
	waitFor(t, 30*time.Second, first.Node.Name+" healthy again", func() bool {
		return httpStatus("http://"+first.Node.HTTPAddr+"/health") == http.StatusOK
	})
	if leaders := Leaders(ProbeAll(ctx, l)); len(leaders) != 1 {
		t.Errorf("leaders after the restart: %v", leaders)
	}
	if m := readManifest(t, l); m.Nodes[nodeIndex(l, first.Node.Name)].PID != s.PID(first.Node.Name) {
		t.Errorf("demo.json not rewritten after the restart: %+v", m)
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}

func nodeIndex(l *Layout, name string) int {
	for i, n := range l.Nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}
