// Command scale measures Triad with many clients (`make bench-scale`;
// bench/README.md, "Scale").
//
// It raises its file limit (children inherit it), starts the demo
// cluster (package demo: three `triad run` nodes behind HAProxy and
// triad-lbagent, lease TTL 2s) in a temporary directory on free ports,
// restarts HAProxy with room for the clients (the demo's haproxy.cfg says
// maxconn 2000), and connects -conns MQTT 3.1.1 clients through HAProxy,
// each with a persistent session (clean session 0) and -subs QoS 1
// subscriptions, from several loopback source addresses. It measures the
// leader's and the followers' RSS before and after, then kills the leader
// with SIGKILL (and revokes its lease, as the packaged unit's ExecStopPost
// does) and measures, from the kill, when each client is back: connected
// to the new leader with its session present and, with -resubscribe, its
// SUBACK received. Then it runs the same clients against one standalone
// triad node, the baseline, for its RSS. It prints a table and exits 1 if
// 99 % of the clients were not back within -target.
//
// Exit status: 0 target met; 1 target NOT MET or the run failed; 2 bad
// flags; killed by the signal (130, 143) when interrupted.
package main

import (
	"github.com/triadmq/triad/bench/internal/runctl"

	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/triadmq/triad/demo"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// options are what the flags say.
type options struct {
	fleet          fleetOptions
	bins           binaries
	target         time.Duration // p99 kill → back
	timeout        time.Duration // the whole run
	connectTimeout time.Duration // the connect phase
	settleTimeout  time.Duration // for the broker to show every connection and subscription, followers caught up
	recoverTimeout time.Duration // from the kill, for the clients to come back
	hold           time.Duration // the clients all back and nothing changing this long ends the wait
	rssWait        time.Duration // from settled to the RSS sample
	revoke         bool
	nodeLog        string // the nodes' log.level; "" leaves the demo's
	fit            bool   // lower conns to what the file limit allows
	lowered        int    // the -conns asked for, when fit lowered it
	cluster        bool
	baseline       bool
	dir            string
	basePort       int
	keep           bool
	asJSON         bool
	verbose        bool
}

// errGlobalTimeout is the cause of the run's context ending at -timeout.
var errGlobalTimeout = errors.New("the run's -timeout ran out")

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "scale: %v\n", err)
		return 2
	}
	log, demoLog := newLoggers(stderr, cfg.verbose)
	lim, err := raiseFileLimit(fileLimitNeed(cfg.fleet.conns))
	fits := maxConnsFor(lim.Cur)
	switch {
	case errors.Is(err, errFileLimit) && cfg.fit && fits > 0:
		log.Warn("LOWERING -conns to what the open file limit allows (-fit)", "conns", cfg.fleet.conns, "to", fits, "limit", lim.Cur, "error", err)
		cfg.lowered, cfg.fleet.conns = cfg.fleet.conns, fits
		cfg.fleet.sources = defaultSources(fits)
	case errors.Is(err, errFileLimit):
		fmt.Fprintf(stderr, "scale: %v\nscale: HAProxy holds two descriptors per client: with this limit at most -conns %d fit (or pass -fit)\n", err, fits)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "scale: %v\n", err)
		return 1
	}
	log.Info("open file limit", "soft", lim.Cur, "hard", lim.Max, "need", fileLimitNeed(cfg.fleet.conns))
	ctx, cancel := context.WithTimeoutCause(context.Background(), cfg.timeout, errGlobalTimeout)
	defer cancel()
	ctx, in := runctl.WatchInterrupts(ctx)
	dir, cleanup, err := runDir(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "scale: %v\n", err)
		return 1
	}
	started := time.Now()
	res := &result{Conns: cfg.fleet.conns, Lowered: cfg.lowered, Subs: cfg.fleet.subs, FileLimit: lim.Cur, Target: cfg.target,
		Resubscribe: cfg.fleet.resubscribe, Revoke: cfg.revoke, Sources: cfg.fleet.sources}
	res.Load.Start = loadAvg()
	runErr := run(ctx, cfg, dir, res, log, demoLog)
	res.Load.End = loadAvg()
	res.Elapsed = time.Since(started).Round(time.Second)
	rec := res.Cluster.Recovery
	res.Met = runErr == nil && cfg.cluster && rec.StableP99Reached && rec.StableP99 <= cfg.target

	status := 0
	tableOut := stdout
	if cfg.asJSON {
		tableOut = stderr // stdout stays JSON
		if err := runctl.WriteJSON(stdout, res); err != nil {
			log.Error("write JSON", "error", err)
			status = 1
		}
	}
	if err := writeReport(tableOut, res, cfg); err != nil {
		log.Error("report", "error", err)
		status = 1
	}
	switch {
	case runErr != nil:
		if cause := context.Cause(ctx); cause != nil && !errors.Is(runErr, cause) {
			runErr = fmt.Errorf("%w: %w", cause, runErr)
		}
		fmt.Fprintf(stderr, "\n!!!! scale: the run FAILED after %v: %v\n\n", res.Elapsed, runErr)
		status = 1
	case !cfg.cluster:
		fmt.Fprintf(stderr, "\n!!!! scale: -cluster=false: no failover measured, the target is not judged\n\n")
	case !res.Met:
		fmt.Fprintf(stderr, "\n!!!! scale: target NOT MET: 99%% of %d clients back within %v (see the table)\n\n", cfg.fleet.conns, cfg.target)
		status = 1
	}
	cleanup(status != 0)
	if code := in.Reraise(); code != 0 {
		return code
	}
	return status
}

// fileLimitNeed is the open file limit (per process: RLIMIT_NOFILE) the
// run needs for conns clients. HAProxy needs the most: two descriptors
// per connection (client and server side) for maxconn connections, plus
// a few of its own; this process and the leader need one per client.
func fileLimitNeed(conns int) uint64 { return uint64(2*maxconn(conns) + 200) }

// maxconn is HAProxy's connection limit for conns clients, with room for
// connections being opened while old ones are still being closed.
func maxconn(conns int) int { return conns + conns/50 + 500 }

// maxConnsFor is the largest client count whose fileLimitNeed fits in
// limit (0 if none).
func maxConnsFor(limit uint64) int {
	lo, hi := 0, maxConns
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fileLimitNeed(mid) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// maxConns bounds -conns.
const maxConns = 200000

// defaultSources is one loopback source address per 2500 clients, at
// least 2: far from the 28k ephemeral ports an address has toward
// HAProxy's one frontend address.
func defaultSources(conns int) int { return max(2, (conns+2499)/2500) }

// newLoggers returns the benchmark's logger and the demo package's, both
// on stderr; the demo's process starts and exits show only when verbose.
func newLoggers(stderr io.Writer, verbose bool) (log, demoLog *slog.Logger) {
	level, demoLevel := slog.LevelInfo, slog.LevelWarn
	if verbose {
		level, demoLevel = slog.LevelDebug, slog.LevelInfo
	}
	log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	demoLog = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: demoLevel})).With("component", "demo")
	return log, demoLog
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var cfg options
	o := &cfg.fleet
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	small := fs.Bool("small", false, "a quick run: 1000 connections unless -conns says otherwise")
	fs.IntVar(&o.conns, "conns", 20000, "MQTT clients, each with a persistent session")
	fs.IntVar(&o.subs, "subs", 10, "QoS 1 subscriptions per client (one SUBSCRIBE)")
	fs.IntVar(&o.sources, "sources", 0, "loopback source addresses 127.0.0.2, .3, ... the clients dial from (default: one per 2500 clients, at least 2)")
	fs.IntVar(&o.concurrency, "concurrency", 200, "connect phase: handshakes in flight at once")
	fs.Float64Var(&o.rate, "rate", 0, "connect phase: connects started per second (0: as fast as -concurrency allows)")
	fs.DurationVar(&o.keepAlive, "keepalive", 60*time.Second, "MQTT keepalive; a client pings after half of it without a packet")
	fs.DurationVar(&o.attemptTimeout, "attempt-timeout", 10*time.Second, "bound on one connect attempt (TCP, CONNACK, SUBACK)")
	fs.IntVar(&o.firstAttempts, "first-attempts", 3, "connect phase: attempts per client before the run fails")
	fs.BoolVar(&o.resubscribe, "resubscribe", true, "after the failover, SUBSCRIBE again (and count a client back at its SUBACK) even when the session is present")
	fs.DurationVar(&o.retryMin, "retry-min", 200*time.Millisecond, "reconnect backoff: the wait after a failed attempt, doubling...")
	fs.DurationVar(&o.retryMax, "retry-max", 2*time.Second, "...up to this (each wait drawn in [d/2, d])")
	fs.DurationVar(&o.reconnectJitter, "reconnect-jitter", 0, "the first reconnect attempt waits a random [0, this) after the drop (0: at once)")
	fs.DurationVar(&cfg.target, "target", 10*time.Second, "target: 99% of the clients back within this of the kill")
	fs.BoolVar(&cfg.revoke, "revoke", true, "after the kill, `triadctl revoke` the leader's lease as the packaged unit's ExecStopPost does (false: the lease expires by its TTL)")
	fs.StringVar(&cfg.nodeLog, "node-log", "", "the nodes' log level (debug | info | warn | error; default: the demo's, info)")
	fs.BoolVar(&cfg.fit, "fit", false, "if the open file limit cannot be raised enough, lower -conns to what it allows instead of failing")
	fs.BoolVar(&cfg.cluster, "cluster", true, "run the cluster part (false: the baseline alone, for a look at the single node)")
	fs.BoolVar(&cfg.baseline, "baseline", true, "also run the clients against one standalone triad node for its RSS")
	fs.StringVar(&cfg.bins.triad, "triad", "bin/triad", "the triad `binary` the nodes run (make build)")
	fs.StringVar(&cfg.bins.lbagent, "lbagent", "bin/triad-lbagent", "the triad-lbagent `binary`")
	fs.StringVar(&cfg.bins.triadctl, "triadctl", "bin/triadctl", "the triadctl `binary` (the revoke)")
	fs.StringVar(&cfg.bins.haproxy, "haproxy", "", "the haproxy `binary` (default: PATH, then /usr/sbin/haproxy)")
	fs.DurationVar(&cfg.timeout, "timeout", 40*time.Minute, "bound on the whole run")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 15*time.Minute, "bound on the connect phase")
	fs.DurationVar(&cfg.settleTimeout, "settle-timeout", 5*time.Minute, "bound on the wait for the broker to show every connection and subscription with its followers caught up")
	fs.DurationVar(&cfg.recoverTimeout, "recover-timeout", 90*time.Second, "bound on the wait, from the kill, for every client to be back")
	fs.DurationVar(&cfg.hold, "hold", 5*time.Second, "the recovery wait ends once every client is back and connected and none dropped or reconnected for this long")
	fs.DurationVar(&cfg.rssWait, "rss-wait", 5*time.Second, "from settled to each RSS sample (lets the Go runtime collect the connect phase's garbage)")
	fs.StringVar(&cfg.dir, "dir", "", "cluster `directory` (default: a new temporary one, removed unless the run fails, the target is not met, or -keep)")
	fs.IntVar(&cfg.basePort, "base-port", 0, "first port of the cluster, which uses base..base+30 (default: a free range)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (configs, node, haproxy and agent logs)")
	fs.BoolVar(&cfg.asJSON, "json", false, "stdout: the results as one JSON object; the table goes to stderr")
	fs.BoolVar(&cfg.verbose, "v", false, "debug logs, and the demo's process starts and exits")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *small && !set["conns"] {
		o.conns = 1000
	}
	if o.sources == 0 {
		o.sources = defaultSources(o.conns)
	}
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	return cfg, cfg.findBinaries()
}

func (cfg *options) validate() error {
	o := cfg.fleet
	switch {
	case o.conns < 1 || o.conns > maxConns:
		return fmt.Errorf("-conns %d: want 1..%d", o.conns, maxConns)
	case o.subs < 0 || o.subs > 100:
		return fmt.Errorf("-subs %d: want 0..100", o.subs)
	case o.sources < 1 || o.sources > 250:
		return fmt.Errorf("-sources %d: want 1..250", o.sources)
	case o.concurrency < 1 || o.concurrency > 10000:
		return fmt.Errorf("-concurrency %d: want 1..10000", o.concurrency)
	case o.rate < 0:
		return fmt.Errorf("-rate %v: want 0 or more", o.rate)
	case o.keepAlive < 2*time.Second || o.keepAlive > 65535*time.Second:
		return fmt.Errorf("-keepalive %v: want 2s..65535s", o.keepAlive)
	case o.firstAttempts < 1 || o.firstAttempts > 100:
		return fmt.Errorf("-first-attempts %d: want 1..100", o.firstAttempts)
	case o.retryMin <= 0 || o.retryMax < o.retryMin:
		return errors.New("-retry-min must be positive and -retry-max at least -retry-min")
	case o.reconnectJitter < 0:
		return errors.New("-reconnect-jitter must not be negative")
	case o.attemptTimeout <= 0 || cfg.target <= 0 || cfg.timeout <= 0 || cfg.connectTimeout <= 0 ||
		cfg.settleTimeout <= 0 || cfg.recoverTimeout <= 0 || cfg.rssWait < 0 || cfg.hold < 0:
		return errors.New("-attempt-timeout, -target, -timeout, -connect-timeout, -settle-timeout and -recover-timeout must be positive, -rss-wait and -hold not negative")
	case !cfg.cluster && !cfg.baseline:
		return errors.New("-cluster=false and -baseline=false leave nothing to run")
	case cfg.basePort < 0:
		return fmt.Errorf("-base-port %d: want a port, or 0 for a free range", cfg.basePort)
	}
	return nil
}

func (cfg *options) findBinaries() error {
	for _, bin := range []string{cfg.bins.triad, cfg.bins.lbagent, cfg.bins.triadctl} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%w (make build puts triad, triadctl and triad-lbagent in bin/)", err)
		}
	}
	if cfg.bins.haproxy == "" {
		var err error
		if cfg.bins.haproxy, err = demo.FindHAProxy(); err != nil {
			return err
		}
	}
	return nil
}

// runDir returns the cluster directory and what to do with it at the end:
// a temporary one is removed unless the run failed, the target was not
// met, or -keep.
func runDir(cfg options, log *slog.Logger) (string, func(keep bool), error) {
	if cfg.dir != "" {
		return cfg.dir, func(bool) {}, nil
	}
	dir, err := os.MkdirTemp("", "triad-scale-")
	if err != nil {
		return "", nil, fmt.Errorf("cluster directory: %w", err)
	}
	return dir, func(keep bool) {
		if keep || cfg.keep {
			log.Info("files kept: configs, node logs (nN/triad.log, single/triad.log), haproxy/haproxy.log, lbagent.log", "dir", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove the cluster directory", "dir", dir, "error", err)
		}
	}, nil
}

// newRunID is a short random tag for client ids and topics, so that a
// reused -dir never hands a client an old session.
func newRunID() string { return rand.Text()[:8] }
