package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Options tune Run.
type Options struct {
	Binary        string          // the triad binary the nodes run; required
	Stdout        io.Writer       // the guide, then every change of leader; nil discards
	Log           *slog.Logger    // process starts, exits and restarts; nil discards
	Restart       <-chan struct{} // each receive restarts the processes that have exited (triad demo: SIGHUP)
	LeaderTimeout time.Duration   // how long to wait for the first leader, and then for HAProxy to reach it; default 30s
	StopGrace     time.Duration   // from SIGTERM to SIGKILL when stopping; default 10s

	NoHAProxy bool   // run the nodes alone: no HAProxy, no agent, clients use the leader's address
	HAProxy   string // the haproxy binary; "" looks for it (FindHAProxy)
	LBAgent   string // the triad-lbagent binary; "" looks beside Binary, then in PATH (FindLBAgent)
}

// Defaults of Options.
const (
	DefaultLeaderTimeout = 30 * time.Second
	DefaultStopGrace     = 10 * time.Second
)

// watchInterval is how often Run looks for a change of leader.
const watchInterval = 250 * time.Millisecond

// Run runs the demo cluster of l (see Plan) until ctx ends. Unless
// o.NoHAProxy, it finds haproxy and triad-lbagent and writes their configs
// first. It checks that every port is free, starts the nodes (Start, which
// writes demo.json), waits for a leader (WaitLeader), then starts HAProxy
// and the agent in front of them (StartProxy, WaitProxy; demo.json then
// names them), prints what to try next, then prints every change of leader
// and restarts the exited processes on each receive from o.Restart. A
// process that exits is logged; the others keep running.
//
// When ctx ends, Run stops HAProxy and the agent, then the nodes (each
// with o.StopGrace), removes nothing and returns nil. It returns an error,
// after stopping what it started, if haproxy or triad-lbagent is missing,
// a port is busy, a process cannot start or exits during the start, or
// there is no leader (or no way to it through HAProxy) within
// o.LeaderTimeout.
func Run(ctx context.Context, l *Layout, o Options) (err error) {
	if o.Binary == "" {
		return errors.New("demo: no triad binary given")
	}
	out := o.withDefaults()
	ports := l.NodePorts()
	if !o.NoHAProxy {
		if err := o.findProxyBinaries(!l.Dynsec()); err != nil {
			return err
		}
		if err := l.WriteProxyFiles(); err != nil {
			return err
		}
		ports = l.Ports()
	}
	if err := checkPorts(ports); err != nil {
		return err
	}
	s, err := Start(l, o.Binary, o.Log)
	if err != nil {
		return err
	}
	var p *Proxy
	defer func() {
		what := "the nodes"
		switch {
		case p != nil && l.Dynsec():
			what = "the nodes and HAProxy"
		case p != nil:
			what = "the nodes, HAProxy and triad-lbagent"
		}
		fmt.Fprintf(out, "Stopping %s (SIGTERM, SIGKILL after %v); their files stay in %s\n", what, o.StopGrace, l.Dir)
		if p != nil {
			err = errors.Join(err, p.Stop(o.StopGrace))
		}
		err = errors.Join(err, s.Stop(o.StopGrace))
	}()
	fmt.Fprintf(out, "Started %s; waiting up to %v for a leader ...\n", l.ManifestPath(), o.LeaderTimeout)
	wctx, cancel := context.WithTimeout(ctx, o.LeaderTimeout)
	leader, err := WaitLeader(wctx, l, s)
	cancel()
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return fmt.Errorf("%w\nthe node logs are %s/n*/triad.log", err, l.Dir)
	}
	if !o.NoHAProxy && leader.Unknown {
		fmt.Fprintln(out, "This triad has no GET /leader, which HAProxy's health checks need: HAProxy is not started.")
	} else if !o.NoHAProxy {
		if p, err = startProxy(ctx, l, s, o, out); err != nil || ctx.Err() != nil {
			return err
		}
	}
	printGuide(out, l, s, p, leader)
	watch(ctx, l, s, p, o, out, leader)
	return nil
}

// withDefaults fills o's zero fields and returns where the output goes.
func (o *Options) withDefaults() io.Writer {
	if o.LeaderTimeout <= 0 {
		o.LeaderTimeout = DefaultLeaderTimeout
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		return io.Discard
	}
	return o.Stdout
}

// findProxyBinaries fills o.HAProxy and (with agent) o.LBAgent if empty,
// and fails if either is missing.
func (o *Options) findProxyBinaries(agent bool) error {
	var errs []error
	if o.HAProxy == "" {
		var err error
		o.HAProxy, err = FindHAProxy()
		errs = append(errs, err)
	} else {
		errs = append(errs, checkBinary("haproxy", o.HAProxy))
	}
	switch {
	case !agent:
	case o.LBAgent == "":
		var err error
		o.LBAgent, err = FindLBAgent(o.Binary)
		errs = append(errs, err)
	default:
		errs = append(errs, checkBinary(LBAgentBinary, o.LBAgent))
	}
	return errors.Join(errs...)
}

// startProxy starts HAProxy and the agent, records them in demo.json and
// waits until a client reaches the leader through HAProxy. It returns the
// Proxy to stop even with an error, and no error if ctx ended.
func startProxy(ctx context.Context, l *Layout, s *Supervisor, o Options, out io.Writer) (*Proxy, error) {
	if l.Dynsec() {
		fmt.Fprintf(out, "Starting HAProxy (MQTT at %s; cluster.mode dynsec: every node in rotation, no triad-lbagent) ...\n", l.Proxy.MQTTAddr)
	} else {
		fmt.Fprintf(out, "Starting HAProxy (MQTT at %s) and triad-lbagent ...\n", l.Proxy.MQTTAddr)
	}
	p, err := StartProxy(l, o.LBAgent, o.HAProxy, o.Log)
	if err != nil {
		return nil, err
	}
	if err := s.AttachProxy(p); err != nil {
		return p, err
	}
	wctx, cancel := context.WithTimeout(ctx, o.LeaderTimeout)
	defer cancel()
	if _, err := WaitProxy(wctx, p); err != nil && ctx.Err() == nil {
		return p, fmt.Errorf("%w\nsee %s and %s", err, l.Proxy.LogPath, l.Proxy.AgentLogPath)
	}
	return p, nil
}

// watch prints each change of leader and restarts exited processes on
// o.Restart, until ctx ends. p is nil without HAProxy.
func watch(ctx context.Context, l *Layout, s *Supervisor, p *Proxy, o Options, out io.Writer, leader Leader) {
	var tick <-chan time.Time
	if !leader.Unknown { // without /leader there is nothing to watch
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		tick = t.C
	}
	current := leader.Node.Name
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Restart:
			restartStopped(out, s, p, o.Log)
		case <-tick:
			now := strings.Join(Leaders(ProbeAll(ctx, l)), ", ")
			if now == current || ctx.Err() != nil {
				continue
			}
			current = now
			printLeader(out, l, s, p, now)
		}
	}
}

// restartStopped restarts the exited nodes, then HAProxy and the agent,
// and says which.
func restartStopped(out io.Writer, s *Supervisor, p *Proxy, log *slog.Logger) {
	names, err := s.RestartStopped()
	if err != nil {
		log.Error("restart", "error", err)
	}
	pidOf := s.PID
	if p != nil {
		proxied, perr := p.RestartStopped()
		if perr != nil {
			log.Error("restart", "error", perr)
		}
		if len(proxied) > 0 {
			if err := s.AttachProxy(p); err != nil {
				log.Error("restart", "error", err)
			}
		}
		names, err = append(names, proxied...), errors.Join(err, perr)
		pidOf = func(name string) int {
			if pid := s.PID(name); pid != 0 {
				return pid
			}
			return p.PID(name)
		}
	}
	if len(names) == 0 && err == nil {
		fmt.Fprintf(out, "%s every process is running; nothing to restart\n", stamp())
	}
	for _, name := range names {
		fmt.Fprintf(out, "%s restarted %s: pid %d\n", stamp(), name, pidOf(name))
	}
}

// tail returns the last n lines of the file at path, indented, or why not.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	const maxBytes = 8 << 10
	if len(data) > maxBytes {
		data = data[len(data)-maxBytes:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
