package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/triadmq/triad/demo"
)

// result is everything a run measured; JSON with -json.
type result struct {
	Conns       int           `json:"conns"`
	Lowered     int           `json:"lowered_from,omitempty"` // -conns asked for, lowered by -fit
	Subs        int           `json:"subs"`
	Sources     int           `json:"sources"`
	Resubscribe bool          `json:"resubscribe"`
	Revoke      bool          `json:"revoke"`
	FileLimit   uint64        `json:"file_limit"`
	Target      time.Duration `json:"target_ns"`
	Met         bool          `json:"met"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Load        loads         `json:"load"`
	Cluster     clusterResult `json:"cluster"`
	Baseline    *singleResult `json:"baseline,omitempty"`
	BaselineErr string        `json:"baseline_error,omitempty"`
}

// loads are the machine's load averages (/proc/loadavg: 1, 5, 15 min) at
// moments of the run: on a shared machine they say how much else ran.
type loads struct {
	Start string `json:"start"`
	Kill  string `json:"kill"`
	End   string `json:"end"`
}

// clusterResult is the cluster's part of a run.
type clusterResult struct {
	Leader         string        `json:"leader"`
	HAProxyMaxconn int           `json:"haproxy_maxconn"`
	Connect        connectResult `json:"connect"`
	LeaderBefore   mem           `json:"leader_before"`
	LeaderAfter    mem           `json:"leader_after"`
	LeaderStatus   nodeStatus    `json:"leader_status"` // once every session and subscription is in
	Followers      []nodeMem     `json:"followers"`
	HAProxyAfter   mem           `json:"haproxy_after"`
	ClientsAfter   mem           `json:"clients_after"` // this process, holding every client
	Killed         bool          `json:"killed"`
	NewLeader      string        `json:"new_leader"`
	NewLeaderAfter time.Duration `json:"new_leader_after_ns"` // kill → its GET /leader answered 200 (polled every 10 ms)
	// FirstServing is the first node to log "serving MQTT as leader" after
	// the kill; a loaded node can lead before the poll sees it.
	FirstServing      string        `json:"first_serving"`
	FirstServingAfter time.Duration `json:"first_serving_after_ns"`
	Recovery          recovery      `json:"recovery"`
	Settled           string        `json:"settled"`        // the leader once the clients were back and settled
	NewLeaderMem      mem           `json:"new_leader_mem"` // its memory then
	NewStatus         nodeStatus    `json:"new_leader_status"`
	SettleErr         string        `json:"settle_error,omitempty"` // no leader settled
	Leaderships       int           `json:"leaderships"`            // leaderships taken after the kill, by the nodes' logs (1 without flapping)
	ListenOverflow    int64         `json:"listen_overflows"`       // kernel TcpExt ListenOverflows during the recovery (netns-wide)
	ListenDrops       int64         `json:"listen_drops"`
	Logs              []logCount    `json:"logs,omitempty"` // warnings and errors in the nodes' logs after the kill
}

// nodeMem is a follower's memory before and after the clients connected.
type nodeMem struct {
	Node   string `json:"node"`
	Before mem    `json:"before"`
	After  mem    `json:"after"`
}

// singleResult is the baseline's part of a run.
type singleResult struct {
	Connect connectResult `json:"connect"`
	Before  mem           `json:"before"`
	After   mem           `json:"after"`
	Status  nodeStatus    `json:"status"`
}

// run starts the cluster, runs the cluster's phases, stops it, then runs
// the baseline. It fills res as it goes, so a failed run reports what it
// measured.
func run(ctx context.Context, cfg options, dir string, res *result, log, demoLog *slog.Logger) error {
	base := cfg.basePort
	if base == 0 {
		var err error
		if base, err = demo.FreeBasePort(); err != nil {
			return err
		}
	}
	l, err := demo.Plan(dir, base, demo.DefaultCluster)
	if err != nil {
		return fmt.Errorf("lay out the cluster: %w", err)
	}
	if cfg.nodeLog != "" {
		if err := setNodeLogLevel(l, cfg.nodeLog); err != nil {
			return err
		}
	}
	runID := newRunID()
	if cfg.cluster {
		if err := runCluster(ctx, cfg, l, runID, res, log, demoLog); err != nil {
			return err
		}
	}
	if !cfg.baseline {
		return nil
	}
	sr, err := runSingle(ctx, cfg, l, runID, log)
	res.Baseline = sr
	if err != nil {
		// The baseline is the reference, not the thing under test: noted,
		// not fatal.
		res.BaselineErr = err.Error()
		log.Error("baseline failed", "error", err)
	}
	return nil
}

// runCluster: cluster up; idle RSS; connect every client through HAProxy;
// settled RSS; kill -9 the leader; wait for the clients; the new
// leader's RSS; everything stopped.
func runCluster(ctx context.Context, cfg options, l *demo.Layout, runID string, res *result, log, demoLog *slog.Logger) (err error) {
	cr := &res.Cluster
	cr.HAProxyMaxconn = maxconn(cfg.fleet.conns)
	c, leader, err := startCluster(ctx, l, cfg.bins, cr.HAProxyMaxconn, log, demoLog)
	if err != nil {
		return err
	}
	defer func() {
		if serr := c.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop the cluster: %w", serr))
		}
	}()
	cr.Leader = leader
	ln, _ := l.Node(leader)
	followers := others(l, leader)
	if _, err := waitSettled(ctx, ln.HTTPAddr, want{followers: len(followers)}, cfg.settleTimeout); err != nil {
		return fmt.Errorf("idle cluster: %w", err)
	}
	if !sleep(ctx, cfg.rssWait) {
		return context.Cause(ctx)
	}
	if cr.LeaderBefore, err = readMem(c.s.PID(leader)); err != nil {
		return err
	}
	for _, f := range followers {
		m, err := readMem(c.s.PID(f))
		if err != nil {
			return err
		}
		cr.Followers = append(cr.Followers, nodeMem{Node: f, Before: m})
	}

	log.Info("connecting", "clients", cfg.fleet.conns, "subs_each", cfg.fleet.subs, "via", c.p.Addr(), "sources", cfg.fleet.sources)
	fl := newFleet(c.p.Addr(), "scale-"+runID, cfg.fleet, log)
	defer fl.close()
	cr.Connect = fl.connectAll(ctx, cfg.connectTimeout)
	log.Info("connect phase done", "connected", cr.Connect.Connected, "failed", cr.Connect.Failed,
		"elapsed", cr.Connect.Elapsed.Round(time.Millisecond), "errors", cr.Connect.Errors)
	if cr.Connect.Failed > 0 {
		return fmt.Errorf("%d of %d clients did not connect (%v)", cr.Connect.Failed, cfg.fleet.conns, cr.Connect.Errors)
	}
	w := want{conns: int64(cfg.fleet.conns), subs: int64(cfg.fleet.conns * cfg.fleet.subs), followers: len(followers)}
	if cr.LeaderStatus, err = waitSettled(ctx, ln.HTTPAddr, w, cfg.settleTimeout); err != nil {
		return fmt.Errorf("leader after the connect phase: %w", err)
	}
	if err := sampleAfter(ctx, cfg, c, leader, cr); err != nil {
		return err
	}
	res.Load.Kill = loadAvg()
	return killAndRecover(ctx, cfg, c, fl, leader, cr, log)
}

// sampleAfter reads the memory of the leader, the followers, HAProxy and
// this process after -rss-wait.
func sampleAfter(ctx context.Context, cfg options, c *cluster, leader string, cr *clusterResult) error {
	if !sleep(ctx, cfg.rssWait) {
		return context.Cause(ctx)
	}
	var err error
	if cr.LeaderAfter, err = readMem(c.s.PID(leader)); err != nil {
		return err
	}
	for i := range cr.Followers {
		if cr.Followers[i].After, err = readMem(c.s.PID(cr.Followers[i].Node)); err != nil {
			return err
		}
	}
	if cr.HAProxyAfter, err = readMem(c.p.HAProxyPID()); err != nil {
		return err
	}
	cr.ClientsAfter, err = readMem(os.Getpid())
	return err
}

// killAndRecover kills the leader with SIGKILL, waits until every client
// is back or -recover-timeout has passed since the kill, then waits for
// the new leader to settle and samples its memory.
func killAndRecover(ctx context.Context, cfg options, c *cluster, fl *fleet, leader string, cr *clusterResult, log *slog.Logger) error {
	logs := markLogs(c.l)
	ovf0, drops0, nerr := listenDrops()
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	type seen struct {
		node string
		at   time.Time
	}
	polled := make(chan seen, 1)
	go func() {
		n, at := c.pollNewLeader(pctx, leader)
		polled <- seen{n, at}
	}()

	at := time.Now()
	fl.markKill(at)
	log.Info("kill -9", "node", leader, "pid", c.s.PID(leader))
	if err := c.kill(ctx, leader, cfg.revoke); err != nil {
		return fmt.Errorf("kill %s: %w", leader, err)
	}
	cr.Killed = true
	waitBack(ctx, fl, at, cfg.recoverTimeout, cfg.hold, log)
	cr.Recovery = fl.recovery()
	cr.Recovery.Waited = time.Since(at)
	stopPoll()
	if s := <-polled; s.node != "" {
		cr.NewLeader, cr.NewLeaderAfter = s.node, s.at.Sub(at)
	}
	if nerr == nil {
		if ovf1, drops1, err := listenDrops(); err == nil {
			cr.ListenOverflow, cr.ListenDrops = ovf1-ovf0, drops1-drops0
		}
	}
	if cr.NewLeader == "" {
		cr.countLogs(logs, at)
		return errors.New("no new leader after the kill")
	}
	w := want{conns: int64(cr.Recovery.Back), subs: int64(cfg.fleet.conns * cfg.fleet.subs), followers: 1}
	settled, st, err := c.waitAnySettled(ctx, others(c.l, leader), w, cfg.settleTimeout)
	cr.Settled, cr.NewStatus = settled, st
	if err != nil {
		cr.SettleErr = err.Error()
		log.Warn("no leader settled after the recovery", "error", err)
	} else if sleep(ctx, cfg.rssWait) {
		if cr.NewLeaderMem, err = readMem(c.s.PID(settled)); err != nil {
			log.Warn("new leader memory", "error", err)
		}
	}
	cr.countLogs(logs, at)
	return nil
}

// countLogs reads the nodes' logs since the kill at.
func (cr *clusterResult) countLogs(logs *logMarks, at time.Time) {
	var first firstLeader
	cr.Logs, first = logs.count()
	cr.Leaderships = leaderships(cr.Logs)
	if !first.At.IsZero() {
		cr.FirstServing, cr.FirstServingAfter = first.Node, first.At.Sub(at)
	}
}

// waitBack polls until every client of fl is back, connected, and
// nothing has changed for hold, or timeout has passed since at; it logs
// progress every second.
func waitBack(ctx context.Context, fl *fleet, at time.Time, timeout, hold time.Duration, log *slog.Logger) {
	deadline := at.Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastLog := at
	for {
		now := time.Now()
		if fl.settledSince(now, hold) || now.After(deadline) || ctx.Err() != nil {
			log.Info("recovery wait over", "back", fl.backCount(), "connected", fl.up.Load(), "of", len(fl.clients),
				"after", now.Sub(at).Round(time.Millisecond))
			return
		}
		if now.Sub(lastLog) >= time.Second {
			lastLog = now
			log.Info("reconnecting", "back", fl.backCount(), "connected", fl.up.Load(), "of", len(fl.clients),
				"attempts", fl.attempts.Load(), "lost_again", fl.redrops.Load(), "since_kill", now.Sub(at).Round(100*time.Millisecond))
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// runSingle runs the same clients against one standalone triad node and
// samples its memory before and after.
func runSingle(ctx context.Context, cfg options, l *demo.Layout, runID string, log *slog.Logger) (_ *singleResult, err error) {
	s, err := startSingle(ctx, l, cfg.bins.triad, log)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.stop()) }()
	sr := &singleResult{}
	if !sleep(ctx, cfg.rssWait) {
		return sr, context.Cause(ctx)
	}
	if sr.Before, err = readMem(s.pid()); err != nil {
		return sr, err
	}
	log.Info("baseline: connecting", "clients", cfg.fleet.conns, "to", s.mqttAddr)
	fl := newFleet(s.mqttAddr, "single-"+runID, cfg.fleet, log)
	defer fl.close()
	sr.Connect = fl.connectAll(ctx, cfg.connectTimeout)
	log.Info("baseline: connect phase done", "connected", sr.Connect.Connected, "failed", sr.Connect.Failed,
		"elapsed", sr.Connect.Elapsed.Round(time.Millisecond), "errors", sr.Connect.Errors)
	if sr.Connect.Failed > 0 {
		return sr, fmt.Errorf("baseline: %d of %d clients did not connect", sr.Connect.Failed, cfg.fleet.conns)
	}
	w := want{conns: int64(cfg.fleet.conns), subs: int64(cfg.fleet.conns * cfg.fleet.subs)}
	if sr.Status, err = waitSettled(ctx, s.httpAddr, w, cfg.settleTimeout); err != nil {
		return sr, fmt.Errorf("baseline: %w", err)
	}
	if !sleep(ctx, cfg.rssWait) {
		return sr, context.Cause(ctx)
	}
	sr.After, err = readMem(s.pid())
	return sr, err
}

// others are the nodes of l but leader.
func others(l *demo.Layout, leader string) []string {
	var out []string
	for _, n := range l.Nodes {
		if n.Name != leader {
			out = append(out, n.Name)
		}
	}
	return out
}
