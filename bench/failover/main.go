// Command failover measures how long MQTT clients go without service
// while the leader of a three-node Triad cluster is taken down (`make
// bench-failover`; bench/README.md, "Failover").
//
// It starts the demo cluster (package demo: three `triad run` nodes
// behind HAProxy and triad-lbagent, lease TTL 2s) in a temporary
// directory on free ports, and a prober: one MQTT client connected to
// HAProxy that publishes a QoS 1 message to its own subscription every
// 10ms and reconnects at once whenever its connection drops. For each
// mode (sigterm, kill9 then `triadctl revoke`, sigstop then SIGCONT) it
// takes the leader down -n times, each time once the cluster is settled,
// and measures the window: the longest gap between successful round
// trips from the last one before the takedown to the first one on a
// connection opened after it. It prints p50/p99/max per mode against the
// issue's targets, and stops everything at the end, on SIGINT/SIGTERM and
// after -timeout.
//
// Exit status: 0 every target met; 1 a target NOT MET or the run failed;
// 2 bad flags; killed by the signal (130, 143) when interrupted.
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
	"runtime"
	"strings"
	"time"

	"github.com/triadmq/triad/demo"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags say.
type config struct {
	n              int
	modes          []mode
	bins           binaries
	timeout        time.Duration // the whole run
	windowTimeout  time.Duration // from a takedown to the first round trip after it
	settleTimeout  time.Duration // for the cluster to settle before each takedown
	connectTimeout time.Duration // one connect attempt of the prober
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
		fmt.Fprintf(stderr, "failover: %v\n", err)
		return 2
	}
	ttl, err := time.ParseDuration(demo.LeaseTTL)
	if err != nil {
		fmt.Fprintf(stderr, "failover: the demo's lease TTL %q: %v\n", demo.LeaseTTL, err)
		return 1
	}
	log, demoLog := newLoggers(stderr, cfg.verbose)
	ctx, cancel := context.WithTimeoutCause(context.Background(), cfg.timeout, errGlobalTimeout)
	defer cancel()
	ctx, in := runctl.WatchInterrupts(ctx)
	started := time.Now()
	emit := func(v any) {
		if !cfg.asJSON {
			return
		}
		if err := runctl.WriteJSON(stdout, v); err != nil {
			log.Error("write JSON", "error", err)
		}
	}
	dir, cleanup, err := runDir(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "failover: %v\n", err)
		return 1
	}
	recs, runErr := run(ctx, cfg, dir, log, demoLog, func(r record) { emit(r) })
	elapsed := time.Since(started).Round(time.Second)

	sums := summarize(cfg.modes, cfg.n, ttl, recs)
	for _, s := range sums {
		emit(s)
	}
	tableOut := stdout
	if cfg.asJSON {
		tableOut = stderr // stdout stays JSON lines
	}
	status := 0
	if err := writeReport(tableOut, cfg, ttl, sums, elapsed); err != nil {
		log.Error("report", "error", err)
		status = 1
	}
	if runErr != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(runErr, cause) {
			runErr = fmt.Errorf("%w: %w", cause, runErr)
		}
		fmt.Fprintf(stderr, "\n!!!! failover: the run FAILED after %v: %v\n\n", elapsed, runErr)
		status = 1
	} else if unmet := unmetModes(sums); len(unmet) > 0 {
		fmt.Fprintf(stderr, "\n!!!! failover: target NOT MET: %s (see the table)\n\n", strings.Join(unmet, ", "))
		status = 1
	}
	cleanup(status != 0)
	if code := in.Reraise(); code != 0 {
		return code
	}
	return status
}

// newLoggers returns the benchmark's logger and the demo package's, both
// on stderr. The demo logs every process start and exit; the takedowns
// make those routine, so they show only when verbose.
func newLoggers(stderr io.Writer, verbose bool) (log, demoLog *slog.Logger) {
	level, demoLevel := slog.LevelInfo, slog.LevelError
	if verbose {
		level, demoLevel = slog.LevelDebug, slog.LevelInfo
	}
	log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	demoLog = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: demoLevel})).With("component", "demo")
	return log, demoLog
}

func unmetModes(sums []summary) []string {
	var unmet []string
	for _, s := range sums {
		if !s.Met {
			unmet = append(unmet, s.Mode)
		}
	}
	return unmet
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	var modes string
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.n, "n", 20, "takedowns per mode")
	fs.StringVar(&modes, "modes", strings.Join(modeNames, ","), "modes to run, in order: sigterm, kill9 (then triadctl revoke), sigstop (then SIGCONT)")
	fs.StringVar(&cfg.bins.triad, "triad", "bin/triad", "the triad `binary` the nodes run (make build)")
	fs.StringVar(&cfg.bins.lbagent, "lbagent", "bin/triad-lbagent", "the triad-lbagent `binary`")
	fs.StringVar(&cfg.bins.triadctl, "triadctl", "bin/triadctl", "the triadctl `binary` (kill9's revoke)")
	fs.StringVar(&cfg.bins.haproxy, "haproxy", "", "the haproxy `binary` (default: PATH, then /usr/sbin/haproxy)")
	fs.DurationVar(&cfg.timeout, "timeout", 20*time.Minute, "bound on the whole run")
	fs.DurationVar(&cfg.windowTimeout, "window-timeout", 30*time.Second, "bound on one takedown: from the signal to the first round trip after it")
	fs.DurationVar(&cfg.settleTimeout, "settle-timeout", 60*time.Second, "bound on the wait for a settled cluster before each takedown (the restarted node catching up)")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 500*time.Millisecond, "bound on one connect attempt of the prober (TCP, CONNACK, SUBACK)")
	fs.StringVar(&cfg.dir, "dir", "", "cluster `directory` (default: a new temporary one, removed unless the run fails, a target is not met, or -keep)")
	fs.IntVar(&cfg.basePort, "base-port", 0, "first port of the cluster, which uses base..base+30 (default: a free range)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (configs, node, haproxy and agent logs)")
	fs.BoolVar(&cfg.asJSON, "json", false, "stdout: a JSON line per takedown and per mode; the table goes to stderr")
	fs.BoolVar(&cfg.verbose, "v", false, "debug logs: the prober's connects and drops, the demo's process starts and exits")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if cfg.modes, err = parseModes(modes); err != nil {
		return cfg, fmt.Errorf("-modes: %w", err)
	}
	switch {
	case cfg.n < 1 || cfg.n > 1000:
		return cfg, fmt.Errorf("-n %d: want 1..1000", cfg.n)
	case cfg.timeout <= 0 || cfg.windowTimeout <= 0 || cfg.settleTimeout <= 0 || cfg.connectTimeout <= 0:
		return cfg, errors.New("-timeout, -window-timeout, -settle-timeout and -connect-timeout must be positive")
	case cfg.basePort < 0:
		return cfg, fmt.Errorf("-base-port %d: want a port, or 0 for a free range", cfg.basePort)
	}
	for _, bin := range []string{cfg.bins.triad, cfg.bins.lbagent, cfg.bins.triadctl} {
		if _, err := exec.LookPath(bin); err != nil {
			return cfg, fmt.Errorf("%w (make build puts triad, triadctl and triad-lbagent in bin/)", err)
		}
	}
	if cfg.bins.haproxy == "" {
		if cfg.bins.haproxy, err = demo.FindHAProxy(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// run starts the cluster and the prober, runs every takedown, hands each
// record to emit as it comes, and stops everything. It returns the records
// so far with the error that ended the run early.
func run(ctx context.Context, cfg config, dir string, log, demoLog *slog.Logger, emit func(record)) (recs []record, err error) {
	base := cfg.basePort
	if base == 0 {
		if base, err = demo.FreeBasePort(); err != nil {
			return nil, err
		}
	}
	c, err := startCluster(ctx, dir, base, cfg.bins, log, demoLog)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := c.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop the cluster: %w", serr))
		}
	}()
	pr := newProber(c.p.Addr(), rand.Text()[:10], cfg.connectTimeout, log)
	pctx, stopProber := context.WithCancel(ctx)
	proberDone := make(chan struct{})
	go func() { defer close(proberDone); pr.run(pctx) }()
	defer func() { // before the cluster stops
		stopProber()
		<-proberDone
		pr.logTotals()
	}()

	b := &bench{c: c, pr: pr, cfg: cfg, log: log}
	for _, m := range cfg.modes {
		log.Info("mode", "mode", m, "takedowns", cfg.n)
		for i := 1; i <= cfg.n; i++ {
			rec, err := b.takedown(ctx, m, i)
			if rec != nil {
				recs = append(recs, *rec)
				emit(*rec)
			}
			if err != nil {
				return recs, err
			}
		}
	}
	return recs, nil
}

// runDir returns the cluster directory and what to do with it at the end:
// a temporary one is removed unless the run failed, a target was not met,
// or -keep.
func runDir(cfg config, log *slog.Logger) (string, func(keep bool), error) {
	if cfg.dir != "" {
		return cfg.dir, func(bool) {}, nil
	}
	dir, err := os.MkdirTemp("", "triad-failover-")
	if err != nil {
		return "", nil, fmt.Errorf("cluster directory: %w", err)
	}
	return dir, func(keep bool) {
		if keep || cfg.keep {
			log.Info("cluster files kept: configs, node logs (nN/triad.log), haproxy/haproxy.log, lbagent.log", "dir", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove the cluster directory", "dir", dir, "error", err)
		}
	}, nil
}

// writeReport prints the header, the table and the window's definition.
func writeReport(w io.Writer, cfg config, ttl time.Duration, sums []summary, elapsed time.Duration) error {
	if _, err := fmt.Fprintf(w, "\nTriad failover: %d takedowns per mode, a QoS 1 round trip through HAProxy every %v, lease TTL %v, %d cores, %v in all\n",
		cfg.n, probeInterval, ttl, runtime.NumCPU(), elapsed); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := writeTable(w, sums); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "window: the longest gap between successful round trips, from the last one before the takedown\n"+
		"to the first one on a connection opened after it; percentiles by nearest rank (p99 of 20 is the max)")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
