package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/triadmq/triad/demo"
)

// Bounds of the cluster's life outside the takedowns.
const (
	startTimeout = 30 * time.Second // for the first leader, then for HAProxy to reach it
	stopGrace    = 10 * time.Second // SIGTERM to SIGKILL when stopping everything
	settlePoll   = 100 * time.Millisecond
	settleHold   = 3 // consecutive settled polls that make the cluster settled
	httpTimeout  = time.Second
)

// binaries are the programs the benchmark runs.
type binaries struct {
	triad, lbagent, triadctl, haproxy string
}

// cluster is the demo cluster under test: three nodes (demo.Start) behind
// HAProxy and triad-lbagent (demo.StartProxy), laid out in one directory.
type cluster struct {
	l    *demo.Layout
	s    *demo.Supervisor
	p    *demo.Proxy
	bins binaries
	log  *slog.Logger

	frozen string // a node left SIGSTOPped: continued before stopping. Main loop only.
}

// startCluster lays out the demo cluster in dir on ports from base, starts
// its nodes, waits for a leader, then starts HAProxy and the agent and
// waits until a client reaches the leader through HAProxy. demoLog gets
// the demo package's process starts and exits. On error it stops what it
// started. Cancelling ctx aborts the waits.
func startCluster(ctx context.Context, dir string, base int, bins binaries, log, demoLog *slog.Logger) (*cluster, error) {
	l, err := demo.Plan(dir, base, demo.DefaultCluster)
	if err != nil {
		return nil, fmt.Errorf("lay out the cluster: %w", err)
	}
	if err := l.CheckPorts(); err != nil {
		return nil, fmt.Errorf("ports from %d: %w", base, err)
	}
	s, err := demo.Start(l, bins.triad, demoLog)
	if err != nil {
		return nil, fmt.Errorf("start the nodes: %w", err)
	}
	c := &cluster{l: l, s: s, bins: bins, log: log}
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	leader, err := demo.WaitLeader(wctx, l, s)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("first leader: %w", err), c.stop())
	}
	if leader.Unknown {
		return nil, errors.Join(errors.New("this triad has no GET /leader: HAProxy cannot route to a leader"), c.stop())
	}
	c.p, err = demo.StartProxy(l, bins.lbagent, bins.haproxy, demoLog)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start haproxy and triad-lbagent: %w", err), c.stop())
	}
	if err := s.AttachProxy(c.p); err != nil {
		return nil, errors.Join(fmt.Errorf("record haproxy in %s: %w", l.ManifestPath(), err), c.stop())
	}
	if _, err := demo.WaitProxy(wctx, c.p); err != nil {
		return nil, errors.Join(fmt.Errorf("haproxy to the leader: %w", err), c.stop())
	}
	log.Info("cluster up", "dir", l.Dir, "mqtt", c.p.Addr(), "leader", leader.Node.Name)
	return c, nil
}

// stop continues a frozen node, then stops HAProxy and the agent, then
// the nodes (each SIGTERM, SIGKILL after stopGrace).
func (c *cluster) stop() error {
	var errs []error
	if c.frozen != "" {
		errs = append(errs, c.s.Signal(c.frozen, syscall.SIGCONT))
		c.frozen = ""
	}
	if c.p != nil {
		errs = append(errs, c.p.Stop(stopGrace))
	}
	errs = append(errs, c.s.Stop(stopGrace))
	return errors.Join(errs...)
}

// settle waits until the cluster is settled (settledNow) on settleHold
// polls in a row, restarting any node that has exited, and returns the
// leader. It fails when ctx ends, with what it saw last.
func (c *cluster) settle(ctx context.Context, pr *prober) (string, error) {
	tick := time.NewTicker(settlePoll)
	defer tick.Stop()
	held, last := 0, errors.New("not checked yet")
	var leader string
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("cluster not settled (last: %v): %w", last, ctx.Err())
		case <-tick.C:
		}
		now, err := c.settledNow(ctx, pr)
		switch {
		case err != nil:
			held, last = 0, err
		case now != leader:
			held, leader = 1, now
		default:
			held++
		}
		if held >= settleHold {
			return leader, nil
		}
	}
}

// settledNow returns the leader if the cluster is settled: every node
// runs, one answers GET /leader with 200 and serves the prober, the other
// two answer GET /replica with 200 and are connected, in sync and caught
// up by the leader's GET /status, HAProxy sends new clients to the leader
// alone, and the prober is succeeding. Otherwise it says why not. It
// restarts a node that has exited.
func (c *cluster) settledNow(ctx context.Context, pr *prober) (string, error) {
	for _, n := range c.l.Nodes {
		if !c.s.Running(n.Name) {
			c.log.Warn("node down while settling; restarting it", "node", n.Name, "status", c.s.ExitStatus(n.Name))
			if _, err := c.s.RestartStopped(); err != nil {
				return "", fmt.Errorf("restart %s: %w", n.Name, err)
			}
			return "", fmt.Errorf("%s was down", n.Name)
		}
	}
	leaders := demo.Leaders(demo.ProbeAll(ctx, c.l))
	if len(leaders) != 1 {
		return "", fmt.Errorf("%d leaders %v", len(leaders), leaders)
	}
	leader := leaders[0]
	for _, n := range c.l.Nodes {
		if n.Name == leader {
			continue
		}
		if code, err := httpGet(ctx, "http://"+n.HTTPAddr+"/replica", nil); err != nil || code != http.StatusOK {
			return "", fmt.Errorf("%s: GET /replica %d %v", n.Name, code, err)
		}
	}
	if err := c.leaderSettled(ctx, leader); err != nil {
		return "", err
	}
	routes, err := c.p.Routes(ctx)
	if err != nil {
		return "", err
	}
	if !slices.Equal(routes, []string{leader}) {
		return "", fmt.Errorf("haproxy sends new clients to %v; %s leads", routes, leader)
	}
	if err := pr.healthy(time.Now(), 20, 100*time.Millisecond); err != nil {
		return "", err
	}
	return leader, nil
}

// nodeStatus is the part of a node's GET /status the benchmark reads
// (node.Status, which embeds broker.Status).
type nodeStatus struct {
	Role        string `json:"role"`
	Serving     bool   `json:"serving"`
	Connections int64  `json:"connections"`
	Followers   []struct {
		Name      string `json:"name"`
		Lag       uint64 `json:"lag"`
		InSync    bool   `json:"in_sync"`
		Connected bool   `json:"connected"`
	} `json:"followers"`
}

// leaderSettled checks the leader's GET /status: serving, a client
// connected (the prober: nothing else speaks MQTT to it), and both
// followers streaming, in sync and caught up.
func (c *cluster) leaderSettled(ctx context.Context, leader string) error {
	n, _ := c.l.Node(leader)
	var st nodeStatus
	if code, err := httpGet(ctx, "http://"+n.HTTPAddr+"/status", &st); err != nil || code != http.StatusOK {
		return fmt.Errorf("%s: GET /status %d %v", leader, code, err)
	}
	switch {
	case !st.Serving:
		return fmt.Errorf("%s: not serving (role %s)", leader, st.Role)
	case st.Connections < 1:
		return fmt.Errorf("%s: the prober is not connected to it", leader)
	case len(st.Followers) != len(c.l.Nodes)-1:
		return fmt.Errorf("%s: %d followers", leader, len(st.Followers))
	}
	for _, f := range st.Followers {
		if !f.Connected || !f.InSync || f.Lag != 0 {
			return fmt.Errorf("follower %s: connected=%v in_sync=%v lag=%d", f.Name, f.Connected, f.InSync, f.Lag)
		}
	}
	return nil
}

var httpClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true}, // a killed node leaves no stale connection
	Timeout:   httpTimeout,
}

// httpGet GETs url and, if v is not nil and the answer is 200, decodes
// its JSON body into v.
func httpGet(ctx context.Context, url string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close() // read to the end below; a close error adds nothing
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", url, err)
		}
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return resp.StatusCode, fmt.Errorf("read %s: %w", url, err)
	}
	return resp.StatusCode, nil
}

// leaderPollClient keeps its connections: it asks only nodes that stay up.
var leaderPollClient = &http.Client{Timeout: 200 * time.Millisecond}

// pollNewLeader asks every node but old GET /leader every probeInterval
// until one answers 200, and returns its name and when that answer came;
// "" once ctx ends first.
func (c *cluster) pollNewLeader(ctx context.Context, old string) (string, time.Time) {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		for _, n := range c.l.Nodes {
			if n.Name == old {
				continue
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTPAddr+"/leader", nil)
			if err != nil {
				return "", time.Time{}
			}
			resp, err := leaderPollClient.Do(req)
			if err != nil {
				continue // not up, or ctx ended: the select below tells
			}
			at := time.Now()
			_, cerr := io.Copy(io.Discard, io.LimitReader(resp.Body, 1024))
			if cerr == nil {
				cerr = resp.Body.Close()
			}
			if cerr != nil {
				c.log.Debug("GET /leader", "node", n.Name, "error", cerr)
			}
			if resp.StatusCode == http.StatusOK {
				return n.Name, at
			}
		}
		select {
		case <-ctx.Done():
			return "", time.Time{}
		case <-tick.C:
		}
	}
}
