package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/triadmq/triad/lbagent"
)

// Names of the Proxy's processes, for PID, Running, ExitStatus and Signal.
const (
	HAProxyProcess = "haproxy"
	AgentProcess   = "lbagent"
)

// LBAgentBinary is the agent's binary name, looked for beside triad.
const LBAgentBinary = "triad-lbagent"

// haproxyFallback is where Debian's package installs haproxy, outside a
// user's PATH (/usr/sbin). A variable for the tests.
var haproxyFallback = "/usr/sbin/haproxy"

// FindHAProxy returns the haproxy in PATH, else /usr/sbin/haproxy, or an
// error that says what to install.
func FindHAProxy() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(haproxyFallback); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("demo: haproxy is not in PATH nor at %s: install it (Debian: apt-get install haproxy; "+
		"`make demo` runs scripts/deps.sh, which does), or run the nodes alone with --no-haproxy", haproxyFallback)
}

// FindLBAgent returns the triad-lbagent beside triadBinary (make build
// puts both in bin/), else the one in PATH, or an error that says how to
// build it.
func FindLBAgent(triadBinary string) (string, error) {
	beside := filepath.Join(filepath.Dir(triadBinary), LBAgentBinary)
	if p, err := exec.LookPath(beside); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(LBAgentBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("demo: %s is not beside %s nor in PATH: build it (`make build` puts bin/%[1]s beside bin/triad, "+
		"or: go build -o bin/ ./cmd/%[1]s), or run the nodes alone with --no-haproxy", LBAgentBinary, triadBinary)
}

// checkBinary fails unless path names an executable file.
func checkBinary(what, path string) error {
	if _, err := exec.LookPath(path); err != nil {
		return fmt.Errorf("demo: the %s binary %q: %w", what, path, err)
	}
	return nil
}

// Proxy runs HAProxy and triad-lbagent in front of a demo cluster: the one
// MQTT address clients use (Layout.Proxy.MQTTAddr). Its processes are
// named HAProxyProcess and AgentProcess; like the nodes, one that exits is
// logged and left down until RestartStopped. Its methods are safe for
// concurrent use.
type Proxy struct {
	*procs
	l       *Layout
	haproxy string // binaries
	agent   string
}

// haproxyReadyTimeout bounds the wait for a started HAProxy's stats socket.
const haproxyReadyTimeout = 10 * time.Second

// StartProxy writes HAProxy's and the agent's configs (WriteProxyFiles),
// starts `haproxyBinary -f DIR/haproxy/haproxy.cfg -db` (foreground, output
// appended to DIR/haproxy/haproxy.log), waits until its stats socket
// answers, then starts `lbagentBinary run --config DIR/lbagent.yaml`
// (output appended to DIR/lbagent.log). It does not wait for clients to
// reach the leader: WaitProxy does. On error it stops what it started.
//
// Start the nodes first (Start): the agent reads their etcd. StartProxy
// does not touch demo.json (Supervisor.AttachProxy does).
func StartProxy(l *Layout, lbagentBinary, haproxyBinary string, log *slog.Logger) (*Proxy, error) {
	check := checkBinary("haproxy", haproxyBinary)
	if !l.Dynsec() {
		check = errors.Join(check, checkBinary(LBAgentBinary, lbagentBinary))
	}
	if check != nil {
		return nil, check
	}
	if err := l.WriteProxyFiles(); err != nil {
		return nil, err
	}
	p := &Proxy{procs: newProcs("process", log), l: l, haproxy: haproxyBinary, agent: lbagentBinary}
	for _, start := range p.starts() {
		if err := start.start(); err != nil {
			return nil, errors.Join(err, p.Stop(time.Second))
		}
	}
	return p, nil
}

// startHAProxy starts HAProxy and waits until its stats socket answers.
func (p *Proxy) startHAProxy() error {
	if err := p.start(HAProxyProcess, p.l.Proxy.LogPath, p.haproxy, "-f", p.l.Proxy.ConfigPath, "-db"); err != nil {
		return err
	}
	rt, err := lbagent.NewRuntime(p.l.Proxy.Socket, time.Second)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), haproxyReadyTimeout)
	defer cancel()
	for {
		_, err := rt.Do(ctx, "show info")
		if err == nil {
			return nil
		}
		if xerr := p.exited([]string{HAProxyProcess}); xerr != nil {
			return xerr
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: haproxy's stats socket %s does not answer after %v (see %s): %w",
				p.l.Proxy.Socket, haproxyReadyTimeout, p.l.Proxy.LogPath, err)
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

func (p *Proxy) startAgent() error {
	return p.start(AgentProcess, p.l.Proxy.AgentLogPath, p.agent, "run", "--config", p.l.Proxy.AgentConfigPath)
}

// Addr is HAProxy's MQTT frontend: the one address clients use.
func (p *Proxy) Addr() string { return p.l.Proxy.MQTTAddr }

// HAProxyPID is the pid of the latest haproxy started.
func (p *Proxy) HAProxyPID() int { return p.PID(HAProxyProcess) }

// AgentPID is the pid of the latest triad-lbagent started.
func (p *Proxy) AgentPID() int { return p.PID(AgentProcess) }

// proxyProcess is one process of the Proxy and how to start it.
type proxyProcess struct {
	name  string
	start func() error
}

// starts are the Proxy's processes in start order: HAProxy, then the
// agent, which dynsec mode does without (every node serves).
func (p *Proxy) starts() []proxyProcess {
	ps := []proxyProcess{{HAProxyProcess, p.startHAProxy}}
	if !p.l.Dynsec() {
		ps = append(ps, proxyProcess{AgentProcess, p.startAgent})
	}
	return ps
}

// names are the names of the Proxy's processes.
func (p *Proxy) names() []string {
	var names []string
	for _, s := range p.starts() {
		names = append(names, s.name)
	}
	return names
}

// RestartStopped starts again HAProxy and the agent if they have exited
// (HAProxy first, waiting for its socket), and returns the names of the
// processes restarted. Supervisor.AttachProxy records their new pids.
func (p *Proxy) RestartStopped() ([]string, error) {
	var started []string
	for _, proc := range p.starts() {
		if p.Running(proc.name) {
			continue
		}
		if err := proc.start(); err != nil {
			return started, err
		}
		started = append(started, proc.name)
	}
	return started, nil
}

// Stop sends SIGTERM to the agent and HAProxy, waits up to grace for both
// to exit, then sends SIGKILL to those left. HAProxy exits at once on
// SIGTERM, closing every client connection. It removes no file; after it
// nothing is restarted.
func (p *Proxy) Stop(grace time.Duration) error {
	names := p.names()
	slices.Reverse(names) // the agent first
	return p.stop(names, grace)
}

// Routes asks HAProxy (`show servers state`) which servers of the
// backend take new clients: ready (neither drain nor maint) and up by
// their health checks. Settled, that is the leader alone.
func (p *Proxy) Routes(ctx context.Context) ([]string, error) {
	rt, err := lbagent.NewRuntime(p.l.Proxy.Socket, time.Second)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	states, err := rt.ServersState(ctx, Backend)
	if err != nil {
		return nil, fmt.Errorf("demo: haproxy servers: %w", err)
	}
	var up []string
	for _, s := range states {
		if s.Admin() == lbagent.AdminReady && (s.Op == lbagent.OpRunning || s.Op == lbagent.OpStarting) {
			up = append(up, s.Name)
		}
	}
	return up, nil
}

// WaitProxy polls until HAProxy routes new clients to one server only
// (Routes) and an MQTT client reaches a broker through p's frontend
// (ProbeMQTT), and returns that server: the node clients reach. It fails
// as soon as HAProxy or the agent exits, and when ctx ends (give it a
// deadline), with what it saw last.
func WaitProxy(ctx context.Context, p *Proxy) (string, error) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	last := errors.New("not asked yet")
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("demo: haproxy at %s does not reach one leader (last: %v): %w", p.Addr(), last, ctx.Err())
		case <-timer.C:
		}
		if err := p.exited(p.names()); err != nil {
			return "", err
		}
		routes, err := p.Routes(ctx)
		switch {
		case err != nil:
			last = err
		case p.l.Dynsec() && len(routes) != len(p.l.Nodes):
			last = fmt.Errorf("haproxy sends new clients to %d of the %d servers %v (cluster.mode dynsec: every node serves)",
				len(routes), len(p.l.Nodes), routes)
		case p.l.Dynsec():
			if last = ProbeMQTT(ctx, p.Addr()); last == nil {
				return strings.Join(routes, ","), nil
			}
		case len(routes) != 1:
			last = fmt.Errorf("haproxy sends new clients to %d servers %v", len(routes), routes)
		default:
			if last = ProbeMQTT(ctx, p.Addr()); last == nil {
				return routes[0], nil
			}
		}
		timer.Reset(pollInterval)
	}
}
