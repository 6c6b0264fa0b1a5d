package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/demo"
	"github.com/triadmq/triad/lbagent"
)

// Bounds of a demo's life outside the load.
const (
	// stopGrace is SIGTERM to SIGKILL for `triad demo`, which itself gives
	// HAProxy and then each node 10 s (demo.DefaultStopGrace).
	stopGrace = 30 * time.Second
	// reapTimeout bounds the wait for a SIGKILLed demo to be reaped.
	reapTimeout = 5 * time.Second
	startPoll   = 200 * time.Millisecond
)

// cluster is one `triad demo --mode M` process: three `triad run` nodes
// with HAProxy in front (and triad-lbagent in full mode), all its files
// under dir.
type cluster struct {
	mode    string
	dir     string // the demo's --dir: configs, data, node logs, demo.json
	logPath string // the demo's own stdout and stderr
	log     *slog.Logger

	cmd     *exec.Cmd
	out     *os.File
	exited  chan struct{} // closed once the demo process has exited
	exitErr error         // cmd.Wait's answer; read only after exited is closed

	m *demo.Manifest // demo.json once ready; nil before
}

// startCluster starts `triad demo --mode mode` in root/mode/cluster on
// ports from base, its output in root/mode/demo.log. It does not wait.
func startCluster(triad, mode, root string, base int, log *slog.Logger) (*cluster, error) {
	top := filepath.Join(root, mode)
	if err := os.MkdirAll(top, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", mode, err)
	}
	c := &cluster{mode: mode, dir: filepath.Join(top, "cluster"), logPath: filepath.Join(top, "demo.log"),
		log: log.With("mode", mode), exited: make(chan struct{})}
	out, err := os.Create(c.logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mode, err)
	}
	c.out = out
	c.cmd = exec.Command(triad, "demo", "--mode", mode, "--dir", c.dir, "--base-port", strconv.Itoa(base))
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start %s: %w", c.cmd, err), closeFile(out))
	}
	go func() {
		c.exitErr = c.cmd.Wait()
		close(c.exited)
	}()
	c.log.Info("triad demo started", "pid", c.cmd.Process.Pid, "dir", c.dir, "base_port", base)
	return c, nil
}

func closeFile(f *os.File) error {
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return nil
}

// errDemoExited: `triad demo` exited while it should be running.
var errDemoExited = errors.New("triad demo exited")

// waitReady polls until the demo is ready for the load (readyNow) and
// keeps its manifest. It fails at once if the demo exits or its manifest
// says another mode, and after timeout (or when ctx ends) with what it
// saw last.
func (c *cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(startPoll)
	defer tick.Stop()
	last := errors.New("not looked yet")
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("%w during start-up (%v)", errDemoExited, c.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v (last: %v): %w", timeout, last, context.Cause(ctx))
		case <-tick.C:
		}
		m, err := demo.ReadManifest(filepath.Join(c.dir, demo.ManifestFile))
		switch {
		case errors.Is(err, os.ErrNotExist):
			last = errors.New("no demo.json yet")
			continue
		case err != nil: // written atomically: a decode error is real
			return err
		case m.Mode != c.mode:
			return fmt.Errorf("demo.json says mode %q, asked for %q (does this triad know --mode?)", m.Mode, c.mode)
		}
		if last = c.readyNow(ctx, m); last == nil {
			c.m = m
			return nil
		}
		c.log.Debug("not ready", "why", last)
	}
}

// readyNow says why the demo of manifest m cannot take the load yet, or
// nil: HAProxy runs and sends new clients where the mode wants them
// (settled), and an MQTT client gets a CONNACK through it.
func (c *cluster) readyNow(ctx context.Context, m *demo.Manifest) error {
	if m.MQTT == "" || m.HAProxySocket == "" {
		return errors.New("HAProxy not started yet")
	}
	sts := make([]nodeStatus, 0, len(m.Nodes))
	for _, n := range m.Nodes {
		st, err := getStatus(ctx, n.HTTP)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		st.Node = n.Name
		sts = append(sts, st)
	}
	routes, err := haproxyRoutes(ctx, m.HAProxySocket)
	if err != nil {
		return err
	}
	if err := settled(c.mode, sts, routes); err != nil {
		return err
	}
	return demo.ProbeMQTT(ctx, m.MQTT)
}

// haproxyRoutes asks HAProxy (`show servers state`) which servers of the
// demo's backend take new clients: ready and up by their health checks.
func haproxyRoutes(ctx context.Context, socket string) ([]string, error) {
	rt, err := lbagent.NewRuntime(socket, time.Second)
	if err != nil {
		return nil, fmt.Errorf("haproxy runtime: %w", err)
	}
	states, err := rt.ServersState(ctx, demo.Backend)
	if err != nil {
		return nil, fmt.Errorf("haproxy servers: %w", err)
	}
	var up []string
	for _, s := range states {
		if s.Admin() == lbagent.AdminReady && (s.Op == lbagent.OpRunning || s.Op == lbagent.OpStarting) {
			up = append(up, s.Name)
		}
	}
	return up, nil
}

// settled decides from the nodes' GET /status and HAProxy's routes
// whether a cluster in mode is ready for the load, and says why not:
//   - full: one node serves, the leader, with every other node streaming,
//     in sync and caught up (a QoS 1 ack waits for a follower), and HAProxy
//     sends new clients to it alone;
//   - dynsec: every node serves and is ready (GET /ready), and HAProxy
//     sends new clients to every one of them.
//
// Every node must say it runs in mode.
func settled(mode string, sts []nodeStatus, routes []string) error {
	var serving []string
	for _, st := range sts {
		if st.Mode != mode {
			return fmt.Errorf("%s: runs in mode %q, not %q", st.Node, st.Mode, mode)
		}
		if st.Serving {
			serving = append(serving, st.Node)
		}
	}
	routes = slices.Sorted(slices.Values(routes))
	switch mode {
	case config.ModeFull:
		if len(serving) != 1 {
			return fmt.Errorf("%d nodes serve %v; want the leader alone", len(serving), serving)
		}
		if err := followersCaughtUp(sts, serving[0]); err != nil {
			return err
		}
		if !slices.Equal(routes, serving) {
			return fmt.Errorf("haproxy sends new clients to %v; %s leads", routes, serving[0])
		}
	case config.ModeDynsec:
		for _, st := range sts {
			if !st.Serving || !st.Ready {
				return fmt.Errorf("%s: serving=%v ready=%v", st.Node, st.Serving, st.Ready)
			}
		}
		if len(routes) != len(sts) {
			return fmt.Errorf("haproxy sends new clients to %v, not to all %d nodes", routes, len(sts))
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return nil
}

// followersCaughtUp checks leader's report on its followers: every other
// node connected, in sync and at lag 0.
func followersCaughtUp(sts []nodeStatus, leader string) error {
	for _, st := range sts {
		if st.Node != leader {
			continue
		}
		if st.Role != "leader" {
			return fmt.Errorf("%s serves as %q, not leader", leader, st.Role)
		}
		if len(st.Followers) != len(sts)-1 {
			return fmt.Errorf("%s reports %d followers of %d", leader, len(st.Followers), len(sts)-1)
		}
		for _, f := range st.Followers {
			if !f.Connected || !f.InSync || f.Lag != 0 {
				return fmt.Errorf("follower %s: connected=%v in_sync=%v lag=%d", f.Name, f.Connected, f.InSync, f.Lag)
			}
		}
		return nil
	}
	return fmt.Errorf("no status from %s", leader)
}

// nodePIDs returns the `triad run` processes of the ready demo, by node
// name, each checked to be running a config under the demo's directory
// (demo.json's pids may be stale).
func (c *cluster) nodePIDs() (map[string]int, error) {
	out := map[string]int{}
	for _, n := range c.m.Nodes {
		if !runsUnder(n.PID, c.dir) {
			return nil, fmt.Errorf("%s: pid %d is not a node of %s", n.Name, n.PID, c.dir)
		}
		out[n.Name] = n.PID
	}
	return out, nil
}

// meteredProcs lists the processes whose CPU the report shows: the
// nodes (each in its budget's cgroup from cgroups, by name), HAProxy,
// triad-lbagent (full mode) and this process, whose goroutines are the
// clients.
func (c *cluster) meteredProcs(cgroups map[string]string) []meteredProc {
	var out []meteredProc
	for _, n := range c.m.Nodes {
		out = append(out, meteredProc{name: n.Name, proc: strconv.Itoa(n.PID), cgroup: cgroups[n.Name], node: true})
	}
	for _, p := range []struct {
		name string
		pid  int
	}{{"haproxy", c.m.HAProxyPID}, {demo.LBAgentBinary, c.m.LBAgentPID}} {
		if runsUnder(p.pid, c.dir) {
			out = append(out, meteredProc{name: p.name, proc: strconv.Itoa(p.pid)})
		}
	}
	return append(out, meteredProc{name: "clients", proc: "self"})
}

// runsUnder says whether process pid runs with an argument naming a path
// under dir (the demo passes each process its config by absolute path).
func runsUnder(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(dir+string(filepath.Separator)))
}

// stop sends `triad demo` SIGTERM (it stops HAProxy, the agent and the
// nodes), waits up to stopGrace, then sends SIGKILL; a SIGKILLed demo
// cannot stop its children, so then every process demo.json names that
// still runs under the demo's directory gets SIGKILL too. It returns how
// long the stop took and what went wrong.
func (c *cluster) stop() (time.Duration, error) {
	began := time.Now()
	var errs []error
	select {
	case <-c.exited:
	default:
		errs = append(errs, c.signalAndWait())
	}
	if c.exitErr != nil {
		c.log.Warn("triad demo exited with an error", "error", c.exitErr, "log", c.logPath)
	}
	errs = append(errs, c.killLeftovers(), closeFile(c.out))
	return time.Since(began), errors.Join(errs...)
}

// signalAndWait is stop's SIGTERM, then SIGKILL after stopGrace.
func (c *cluster) signalAndWait() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM triad demo: %w", err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(stopGrace):
	}
	c.log.Warn("triad demo still running after SIGTERM; sending SIGKILL", "grace", stopGrace)
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL triad demo: %w", err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(reapTimeout):
		return fmt.Errorf("triad demo (pid %d) not reaped %v after SIGKILL", c.cmd.Process.Pid, reapTimeout)
	}
}

// killLeftovers SIGKILLs every process the latest demo.json names that
// still runs under the demo's directory.
func (c *cluster) killLeftovers() error {
	m, err := demo.ReadManifest(filepath.Join(c.dir, demo.ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil // the demo never got as far as starting a node
	}
	if err != nil {
		return err
	}
	pids := []int{m.HAProxyPID, m.LBAgentPID}
	for _, n := range m.Nodes {
		pids = append(pids, n.PID)
	}
	var errs []error
	for _, pid := range pids {
		if !runsUnder(pid, c.dir) {
			continue
		}
		c.log.Warn("a process outlived triad demo; sending SIGKILL", "pid", pid)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("SIGKILL pid %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// logTails returns the last n lines of the demo's output and of each
// node's log, for a failure report.
func (c *cluster) logTails(n int) string {
	var b strings.Builder
	paths := []string{c.logPath}
	nodeLogs, err := filepath.Glob(filepath.Join(c.dir, "n*", "triad.log"))
	if err != nil {
		fmt.Fprintf(&b, "(node logs: %v)\n", err)
	}
	paths = append(paths, nodeLogs...)
	paths = append(paths, filepath.Join(c.dir, "haproxy", "haproxy.log"))
	for _, p := range paths {
		fmt.Fprintf(&b, "--- %s, last %d lines:\n%s\n", p, n, tail(p, n))
	}
	return b.String()
}

// tail returns the last n lines of the file at path (its last 16 KB at
// most), or why not.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	const maxBytes = 16 << 10
	if len(data) > maxBytes {
		data = data[len(data)-maxBytes:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
