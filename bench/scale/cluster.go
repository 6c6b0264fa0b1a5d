package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/triadmq/triad/demo"
	"github.com/triadmq/triad/lbagent"
)

// Bounds of the cluster's life outside the measured phases.
const (
	startTimeout  = 60 * time.Second // for the first leader, then for HAProxy to reach it
	stopGrace     = 20 * time.Second // SIGTERM to SIGKILL when stopping everything
	exitTimeout   = 15 * time.Second // for a killed node to be reaped
	revokeTimeout = 10 * time.Second // for `triadctl revoke`
	pollEvery     = 200 * time.Millisecond
	httpTimeout   = 2 * time.Second
)

// binaries are the programs the benchmark runs.
type binaries struct {
	triad, lbagent, triadctl, haproxy string
}

// cluster is the demo cluster under test: three nodes (demo.Start) behind
// HAProxy and triad-lbagent (demo.StartProxy), laid out in one directory,
// with HAProxy's connection limit raised for the run (widenHAProxy).
type cluster struct {
	l    *demo.Layout
	s    *demo.Supervisor
	p    *demo.Proxy
	bins binaries
	log  *slog.Logger
}

// startCluster lays out the demo cluster in dir on ports from base, starts
// its nodes, waits for a leader, starts HAProxy and the agent, restarts
// HAProxy with room for maxconn clients, and waits until a client reaches
// the leader through it. It returns the leader. On error it stops what it
// started. Cancelling ctx aborts the waits.
func startCluster(ctx context.Context, l *demo.Layout, bins binaries, maxconn int, log, demoLog *slog.Logger) (*cluster, string, error) {
	if err := l.CheckPorts(); err != nil {
		return nil, "", fmt.Errorf("ports from %d: %w", l.BasePort, err)
	}
	s, err := demo.Start(l, bins.triad, demoLog)
	if err != nil {
		return nil, "", fmt.Errorf("start the nodes: %w", err)
	}
	c := &cluster{l: l, s: s, bins: bins, log: log}
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	leader, err := demo.WaitLeader(wctx, l, s)
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("first leader: %w", err), c.stop())
	}
	if leader.Unknown {
		return nil, "", errors.Join(errors.New("this triad has no GET /leader: HAProxy cannot route to a leader"), c.stop())
	}
	c.p, err = demo.StartProxy(l, bins.lbagent, bins.haproxy, demoLog)
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("start haproxy and triad-lbagent: %w", err), c.stop())
	}
	if err := c.widenHAProxy(wctx, maxconn); err != nil {
		return nil, "", errors.Join(err, c.stop())
	}
	if err := s.AttachProxy(c.p); err != nil {
		return nil, "", errors.Join(fmt.Errorf("record haproxy in %s: %w", l.ManifestPath(), err), c.stop())
	}
	node, err := demo.WaitProxy(wctx, c.p)
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("haproxy to the leader: %w", err), c.stop())
	}
	log.Info("cluster up", "dir", l.Dir, "mqtt", c.p.Addr(), "leader", node)
	return c, node, nil
}

// widenHAProxy makes HAProxy take maxconn connections. The demo's
// haproxy.cfg (demo/proxy_config.go) says `maxconn 2000` in its global
// section, and demo.StartProxy writes that file and starts HAProxy at
// once, so the benchmark stops the HAProxy it started, rewrites the file
// with maxconn in the global section and the frontend (raiseMaxconn), and
// starts it again (Proxy.RestartStopped does not rewrite the file). The
// agent readies the leader's server again within its reconcile interval.
// HAProxy sizes its own file limit (ulimit-n) from maxconn and raises it
// itself, within the hard limit it inherits from this process
// (raiseFileLimit). It then checks `show info`.
func (c *cluster) widenHAProxy(ctx context.Context, maxconn int) error {
	path := c.l.Proxy.ConfigPath
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	cfg, err := raiseMaxconn(old, maxconn)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !bytes.Equal(cfg, old) {
		if err := c.p.Signal(demo.HAProxyProcess, syscall.SIGTERM); err != nil {
			return err
		}
		if err := waitGone(ctx, c.p.Running, demo.HAProxyProcess); err != nil {
			return err
		}
		if err := os.WriteFile(path, cfg, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if _, err := c.p.RestartStopped(); err != nil {
			return fmt.Errorf("restart haproxy with maxconn %d: %w", maxconn, err)
		}
	}
	info, err := haproxyInfo(ctx, c.l.Proxy.Socket)
	if err != nil {
		return err
	}
	if info["Maxconn"] < maxconn || info["Ulimit-n"] < info["Maxsock"] {
		return fmt.Errorf("haproxy runs with Maxconn %d, Maxsock %d, Ulimit-n %d, not room for the %d connections asked for: see %s",
			info["Maxconn"], info["Maxsock"], info["Ulimit-n"], maxconn, c.l.Proxy.LogPath)
	}
	c.log.Info("haproxy widened", "maxconn", info["Maxconn"], "ulimit_n", info["Ulimit-n"], "maxsock", info["Maxsock"])
	return nil
}

var (
	globalMaxconn = regexp.MustCompile(`(?m)^([ \t]*)maxconn[ \t]+\d+[ \t]*$`)
	frontendLine  = regexp.MustCompile(`(?m)^frontend[ \t]+\S+[ \t]*\n`)
)

// raiseMaxconn returns cfg with the first `maxconn N` line (the global
// section's) saying maxconn instead, and `maxconn maxconn` on the first
// line of every frontend section, so that neither the process nor the
// frontend holds clients back. It fails if cfg has no global maxconn
// line or no frontend: the demo's config has changed shape.
func raiseMaxconn(cfg []byte, maxconn int) ([]byte, error) {
	loc := globalMaxconn.FindSubmatchIndex(cfg)
	if loc == nil {
		return nil, errors.New("no `maxconn N` line to raise (has demo/proxy_config.go changed?)")
	}
	indent := cfg[loc[2]:loc[3]]
	line := fmt.Sprintf("%smaxconn %d", indent, maxconn)
	out := append(append(append([]byte{}, cfg[:loc[0]]...), line...), cfg[loc[1]:]...)
	if !frontendLine.Match(out) {
		return nil, errors.New("no frontend section (has demo/proxy_config.go changed?)")
	}
	out = frontendLine.ReplaceAllFunc(out, func(m []byte) []byte {
		return fmt.Appendf(append([]byte{}, m...), "    maxconn %d\n", maxconn)
	})
	return out, nil
}

// haproxyInfo reads the numeric fields of `show info` (Maxconn,
// Ulimit-n, Maxsock, CurrConns, ...).
func haproxyInfo(ctx context.Context, socket string) (map[string]int, error) {
	rt, err := lbagent.NewRuntime(socket, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("haproxy runtime: %w", err)
	}
	out, err := rt.Do(ctx, "show info")
	if err != nil {
		return nil, fmt.Errorf("haproxy show info: %w", err)
	}
	info := map[string]int{}
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil {
			info[k] = n
		}
	}
	return info, nil
}

// waitGone polls until running(name) is false, bounded by exitTimeout.
func waitGone(ctx context.Context, running func(string) bool, name string) error {
	ctx, cancel := context.WithTimeout(ctx, exitTimeout)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for running(name) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has not exited: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// stop stops HAProxy and the agent, then the nodes (each SIGTERM, SIGKILL
// after stopGrace).
func (c *cluster) stop() error {
	var errs []error
	if c.p != nil {
		errs = append(errs, c.p.Stop(stopGrace))
	}
	errs = append(errs, c.s.Stop(stopGrace))
	return errors.Join(errs...)
}

// kill sends SIGKILL to node, waits until it is reaped and, if revoke,
// runs `triadctl revoke node` as a service manager's ExecStopPost would
// (packaging's unit does). A failed
// revoke is logged (the lease then expires by its TTL).
func (c *cluster) kill(ctx context.Context, node string, revoke bool) error {
	at := time.Now()
	if err := c.s.Signal(node, syscall.SIGKILL); err != nil {
		return err
	}
	if err := waitGone(ctx, c.s.Running, node); err != nil {
		return err
	}
	if !revoke {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, c.bins.triadctl,
		"--etcd", strings.Join(c.l.EtcdEndpoints(), ","), "--cluster", c.l.Cluster, "revoke", node)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.log.Warn("revoke failed; the lease expires by its TTL", "node", node, "error", err, "output", string(bytes.TrimSpace(out)))
	} else {
		c.log.Info("lease revoked", "node", node, "after", time.Since(at).Round(time.Millisecond))
	}
	return nil
}

// nodeStatus is the part of a node's GET /status the benchmark reads
// (node.Status, which embeds broker.Status).
type nodeStatus struct {
	Role          string `json:"role"`
	Serving       bool   `json:"serving"`
	Connections   int64  `json:"connections"`
	Sessions      int    `json:"sessions"`
	Subscriptions int64  `json:"subscriptions"`
	Followers     []struct {
		Name      string `json:"name"`
		Lag       uint64 `json:"lag"`
		InSync    bool   `json:"in_sync"`
		Connected bool   `json:"connected"`
	} `json:"followers"`
}

// want is what waitSettled waits for on the leader.
type want struct {
	conns     int64 // at least this many connections
	subs      int64 // at least this many subscriptions
	followers int   // this many followers streaming, in sync, at lag 0
}

// waitSettled polls node's GET /status until it serves with what w asks,
// and returns the last status; on timeout the last status and an error
// saying what was missing.
func waitSettled(ctx context.Context, httpAddr string, w want, timeout time.Duration) (nodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var st nodeStatus
	last := errors.New("not asked yet")
	for {
		var err error
		if st, err = getStatus(ctx, httpAddr); err != nil {
			last = err
		} else if last = st.short(w); last == nil {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("not settled after %v (last: %v): %w", timeout, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitAnySettled polls GET /status of each of names until one of them
// serves with what w asks (whichever leads: leadership may move while the
// clients come back), and returns it and its status; on timeout an error
// saying what each lacked.
func (c *cluster) waitAnySettled(ctx context.Context, names []string, w want, timeout time.Duration) (string, nodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last []string
	for {
		last = last[:0]
		for _, name := range names {
			n, _ := c.l.Node(name)
			st, err := getStatus(ctx, n.HTTPAddr)
			if err == nil {
				if err = st.short(w); err == nil {
					return name, st, nil
				}
			}
			last = append(last, name+": "+err.Error())
		}
		select {
		case <-ctx.Done():
			return "", nodeStatus{}, fmt.Errorf("no node settled after %v (last: %s): %w", timeout, strings.Join(last, "; "), ctx.Err())
		case <-tick.C:
		}
	}
}

// short says what st lacks of w, or nil.
func (st nodeStatus) short(w want) error {
	switch {
	case !st.Serving:
		return fmt.Errorf("not serving (role %s)", st.Role)
	case st.Connections < w.conns:
		return fmt.Errorf("%d connections of %d", st.Connections, w.conns)
	case st.Subscriptions < w.subs:
		return fmt.Errorf("%d subscriptions of %d", st.Subscriptions, w.subs)
	}
	n := 0
	for _, f := range st.Followers {
		if f.Connected && f.InSync && f.Lag == 0 {
			n++
		}
	}
	if n < w.followers {
		return fmt.Errorf("%d of %d followers connected, in sync and caught up", n, w.followers)
	}
	return nil
}

var httpClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true}, // a killed node leaves no stale connection
	Timeout:   httpTimeout,
}

// getStatus GETs http://addr/status.
func getStatus(ctx context.Context, addr string) (nodeStatus, error) {
	var st nodeStatus
	code, err := httpGet(ctx, "http://"+addr+"/status", &st)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET /status: %d", code)
	}
	return st, err
}

// httpGet GETs url and, if v is not nil and the answer is 200, decodes
// its JSON body into v.
func httpGet(ctx context.Context, url string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
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

// pollNewLeader asks every node but old GET /leader every 10ms until one
// answers 200, and returns its name and when; "" once ctx ends first.
func (c *cluster) pollNewLeader(ctx context.Context, old string) (string, time.Time) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range c.l.Nodes {
			if n.Name == old {
				continue
			}
			if code, err := httpGet(ctx, "http://"+n.HTTPAddr+"/leader", nil); err == nil && code == http.StatusOK {
				return n.Name, time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return "", time.Time{}
		case <-tick.C:
		}
	}
}
