package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runDemo runs Run on l with fake nodes in the background and returns its
// output, its log and the channel of its result. Unless o names an
// haproxy binary, it runs the nodes alone (NoHAProxy).
func runDemo(t *testing.T, ctx context.Context, l *Layout, o Options) (out, logs *syncBuffer, errc chan error) {
	t.Helper()
	out, logs = &syncBuffer{}, &syncBuffer{}
	o.Binary, o.Stdout, o.Log = testBinary(t), out, testLogger(t, logs)
	o.NoHAProxy = o.HAProxy == ""
	if o.LeaderTimeout == 0 {
		o.LeaderTimeout = 20 * time.Second
	}
	if o.StopGrace == 0 {
		o.StopGrace = 5 * time.Second
	}
	errc = make(chan error, 1)
	go func() { errc <- Run(ctx, l, o) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", out)
		}
	})
	return out, logs, errc
}

// waitOutput waits until out holds want; it fails at once if Run returned.
func waitOutput(t *testing.T, out *syncBuffer, errc chan error, want string) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%q in the output", want), func() bool {
		select {
		case err := <-errc:
			t.Fatalf("Run returned %v before printing %q", err, want)
		default:
		}
		return strings.Contains(out.String(), want)
	})
}

func waitRun(t *testing.T, errc chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s")
	}
	return nil
}

func readManifest(t *testing.T, l *Layout) *Manifest {
	t.Helper()
	m, err := ReadManifest(l.ManifestPath())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pids(m *Manifest) []int {
	var ps []int
	for _, n := range m.Nodes {
		ps = append(ps, n.PID)
	}
	return ps
}

// TestRunFakeCluster: the guide names the leader; a change of leader is
// printed; a node killed is logged and the others keep running; a restart
// brings it back and rewrites demo.json; cancelling stops every node.
func TestRunFakeCluster(t *testing.T) {
	l, leaderFile := fakeCluster(t)
	setLeader(t, leaderFile, "n2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	restart := make(chan struct{})
	out, logs, errc := runDemo(t, ctx, l, Options{Restart: restart})
	waitOutput(t, out, errc, "Stop: Ctrl-C")

	m := readManifest(t, l)
	if m.Cluster != "fake" || m.DemoPID != os.Getpid() || !slices.Equal(m.Etcd, l.EtcdEndpoints()) || len(m.Nodes) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for _, n := range m.Nodes {
		if !alive(n.PID) {
			t.Errorf("%s (pid %d) is not running", n.Name, n.PID)
		}
	}
	for _, want := range []string{
		"Leader: n2, MQTT at " + l.Nodes[1].MQTTAddr,
		fmt.Sprintf("kill -9 %d   (the leader, n2)", m.Nodes[1].PID),
		"mosquitto_pub -h 127.0.0.1 -p " + strings.TrimPrefix(l.Nodes[1].MQTTAddr, Host+":"),
		"bin/triadctl --etcd " + strings.Join(l.EtcdEndpoints(), ",") + " --cluster fake status",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the guide lacks %q", want)
		}
	}

	setLeader(t, leaderFile, "n3")
	waitOutput(t, out, errc, "leader: n3 (mqtt "+l.Nodes[2].MQTTAddr+")")

	if err := syscall.Kill(m.Nodes[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the exit of n1 in the log", func() bool {
		return strings.Contains(logs.String(), `msg="node exited unexpectedly; the others keep running" node=n1`)
	})
	if !alive(m.Nodes[1].PID) || !alive(m.Nodes[2].PID) {
		t.Fatal("n2 or n3 stopped with n1")
	}

	restart <- struct{}{}
	waitOutput(t, out, errc, "restarted n1: pid")
	m2 := readManifest(t, l)
	if m2.Nodes[0].PID == m.Nodes[0].PID || !alive(m2.Nodes[0].PID) {
		t.Fatalf("after the restart demo.json names n1 pid %d (was %d)", m2.Nodes[0].PID, m.Nodes[0].PID)
	}
	if !slices.Equal(pids(m2)[1:], pids(m)[1:]) {
		t.Errorf("n2, n3 pids changed: %v, were %v", pids(m2), pids(m))
	}

	cancel()
	if err := waitRun(t, errc); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, pid := range append(pids(m), pids(m2)...) {
		if alive(pid) {
			t.Errorf("pid %d still exists after Run returned", pid)
		}
	}
	if got := strings.Count(logs.String(), `msg="node stopped"`); got != 3 {
		t.Errorf("%d nodes logged as stopped, want 3", got)
	}
}

func TestRunWithoutLeaderEndpoint(t *testing.T) {
	l, _ := fakeCluster(t)
	t.Setenv(envLeaderFile, "-")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, _, errc := runDemo(t, ctx, l, Options{})
	waitOutput(t, out, errc, "Stop: Ctrl-C")
	for _, want := range []string{"Leader: unknown. This triad has no GET /leader", "Kill a node: kill -9"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the guide lacks %q", want)
		}
	}
	cancel()
	if err := waitRun(t, errc); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRunFailsWhenANodeExitsAtStart(t *testing.T) {
	l, leaderFile := fakeCluster(t)
	setLeader(t, leaderFile, "nobody")
	t.Setenv(envExitAtStart, "n2")
	_, _, errc := runDemo(t, context.Background(), l, Options{})
	err := waitRun(t, errc)
	for _, want := range []string{"n2 exited during start (exit status 3)", "fake triad n2: failing on purpose", l.Nodes[1].LogPath} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v\nwant an error with %q", err, want)
		}
	}
	for _, pid := range pids(readManifest(t, l)) {
		if alive(pid) {
			t.Errorf("pid %d still exists after Run returned", pid)
		}
	}
}

func TestRunNoLeaderInTime(t *testing.T) {
	l, leaderFile := fakeCluster(t)
	setLeader(t, leaderFile, "nobody")
	_, _, errc := runDemo(t, context.Background(), l, Options{LeaderTimeout: time.Second})
	err := waitRun(t, errc)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "n1: /leader 503") {
		t.Fatalf("Run: %v, want no leader with a deadline and the last answers", err)
	}
}

// TestRunCancelledDuringStart: Ctrl-C before there is a leader stops the
// nodes and is no error.
func TestRunCancelledDuringStart(t *testing.T) {
	l, leaderFile := fakeCluster(t)
	setLeader(t, leaderFile, "nobody")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, errc := runDemo(t, ctx, l, Options{})
	waitFor(t, 20*time.Second, "demo.json", func() bool {
		_, err := ReadManifest(l.ManifestPath())
		return err == nil
	})
	cancel()
	if err := waitRun(t, errc); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, pid := range pids(readManifest(t, l)) {
		if alive(pid) {
			t.Errorf("pid %d still exists after Run returned", pid)
		}
	}
}

func TestRunBusyPort(t *testing.T) {
	l, _ := fakeCluster(t)
	ln, err := net.Listen("tcp", l.Nodes[2].HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, _, errc := runDemo(t, context.Background(), l, Options{})
	err = waitRun(t, errc)
	want := fmt.Sprintf("port %d (n3 http) is busy", l.BasePort+2*Stride+OffsetHTTP)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run: %v, want %q", err, want)
	}
	if _, err := os.Stat(l.ManifestPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo.json written although nothing started: %v", err)
	}
}

// TestStopEscalatesToSIGKILL: nodes that ignore SIGTERM are killed after
// the grace period.
func TestStopEscalatesToSIGKILL(t *testing.T) {
	l, leaderFile := fakeCluster(t)
	setLeader(t, leaderFile, "n1")
	t.Setenv(envIgnoreTerm, "1")
	logs := &syncBuffer{}
	s, err := Start(l, testBinary(t), testLogger(t, logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader, err := WaitLeader(ctx, l, s)
	if err != nil || leader.Node.Name != "n1" {
		t.Fatalf("WaitLeader: %+v, %v", leader, err)
	}
	// Every fake answers HTTP only once it ignores SIGTERM: wait for all,
	// or a slow starter dies of the SIGTERM instead (seen under load).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		answering := 0
		for _, p := range ProbeAll(ctx, l) {
			if p.Status != 0 {
				answering++
			}
		}
		if answering == len(l.Nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d fake nodes answer HTTP after 10s", answering, len(l.Nodes))
		}
	}
	start := time.Now()
	if err := s.Stop(300 * time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %v", d)
	}
	for _, n := range l.Nodes {
		if st := s.ExitStatus(n.Name); st != "signal: killed" {
			t.Errorf("%s: %q, want signal: killed", n.Name, st)
		}
	}
	if got := strings.Count(logs.String(), "still running after SIGTERM; killing it"); got != 3 {
		t.Errorf("%d kills logged, want 3", got)
	}
	if names, err := s.RestartStopped(); err == nil || len(names) > 0 {
		t.Errorf("RestartStopped after Stop: %v, %v; want an error", names, err)
	}
}

func TestStartWithoutBinary(t *testing.T) {
	l, _ := fakeCluster(t)
	_, err := Start(l, "/nonexistent/triad", nil)
	if err == nil || !strings.Contains(err.Error(), "start n1") {
		t.Fatalf("Start: %v, want an error naming n1", err)
	}
}
