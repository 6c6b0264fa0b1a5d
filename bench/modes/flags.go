package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/triadmq/triad/bench/internal/stamp"
	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/demo"
)

// options are what the flags say.
type options struct {
	modes    []string // cluster modes to run, in order
	load     loadConfig
	nodeCPU  float64       // CPUs per `triad run` node process; 0 = no limit
	start    time.Duration // for one demo to route through HAProxy and settle
	triad    string        // the triad binary (`triad demo`)
	basePort int           // 0: a free range per mode
	keep     bool
	asJSON   bool
	verbose  bool
}

// Bounds the flags are checked against.
const (
	// maxClients stays well inside the demo HAProxy's `maxconn 2000`
	// (demo/proxy_config.go): one frontend and one backend socket each.
	maxClients = 900
	// maxInflight is what MQTT packet identifiers allow on one
	// connection [MQTT-2.3.1-1], less room for the subscription's.
	maxInflight = 65000
	maxSize     = 1 << 20
	maxCount    = 10_000_000
)

// defaultModes is the order the comparison runs in.
var defaultModes = []string{config.ModeFull, config.ModeDynsec}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var modes string
	fs := flag.NewFlagSet("modes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&modes, "modes", strings.Join(defaultModes, ","), "cluster modes to run, in order (full, dynsec)")
	fs.IntVar(&o.load.clients, "clients", 30, "loopback clients, each subscribed to its own topic and publishing to it")
	fs.IntVar(&o.load.count, "count", 2000, "QoS 1 messages each client publishes")
	fs.IntVar(&o.load.inflight, "inflight", 64, "unacknowledged publishes each client keeps at most")
	fs.IntVar(&o.load.size, "size", 256, fmt.Sprintf("payload bytes (at least %d: send time and sequence number)", stamp.HeaderLen))
	fs.DurationVar(&o.load.timeout, "timeout", 120*time.Second, "bound on one mode's load: connecting, publishing and waiting for deliveries")
	fs.DurationVar(&o.load.stall, "stall", 10*time.Second, "once every publish has completed, this long without a new delivery ends the wait (the rest are lost)")
	fs.DurationVar(&o.start, "start-timeout", 60*time.Second, "bound on one demo's start: demo.json, HAProxy routing, followers in sync")
	fs.Float64Var(&o.nodeCPU, "node-cpu", 0.5, "CPUs each `triad run` node process may use, as if it ran on its own VM of that size (a cgroup CPU quota, as bench/run.sh's BENCH_NODE_CPU); 0 = no limit, the nodes share the machine")
	fs.StringVar(&o.triad, "triad", "bin/triad", "the triad `binary` whose `triad demo` runs each cluster (make build; it finds bin/triad-lbagent beside it)")
	fs.IntVar(&o.basePort, "base-port", 0, "first port of each demo, which uses base..base+30 (default: a free range per mode)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (demo output, node and haproxy logs) even when every mode passed")
	fs.BoolVar(&o.asJSON, "json", false, "stdout: one JSON object with every figure; the table goes to stderr")
	fs.BoolVar(&o.verbose, "v", false, "debug logs: each poll while a demo starts")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.modes, err = parseModes(modes); err != nil {
		return o, fmt.Errorf("-modes: %w", err)
	}
	if err := o.validate(runtime.NumCPU()); err != nil {
		return o, err
	}
	if _, err := exec.LookPath(o.triad); err != nil {
		return o, fmt.Errorf("-triad: %w (make build puts triad and triad-lbagent in bin/)", err)
	}
	if _, err := demo.FindHAProxy(); err != nil {
		return o, fmt.Errorf("triad demo runs HAProxy in front of the nodes: %w", err)
	}
	return o, nil
}

// errBadModes reports a -modes list that is empty, names an unknown mode
// or names one twice.
var errBadModes = errors.New("want full and/or dynsec, comma-separated, each once")

// parseModes parses a comma-separated list of cluster modes.
func parseModes(s string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		switch {
		case m == "":
			continue
		case m != config.ModeFull && m != config.ModeDynsec:
			return nil, fmt.Errorf("%q: %w", m, errBadModes)
		case slices.Contains(out, m):
			return nil, fmt.Errorf("%q twice: %w", m, errBadModes)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: %w", s, errBadModes)
	}
	return out, nil
}

// validate checks the numbers; cores is the machine's CPU count, the most
// -node-cpu may ask for.
func (o options) validate(cores int) error {
	l := o.load
	switch {
	case l.clients < 1 || l.clients > maxClients:
		return fmt.Errorf("-clients %d: want 1..%d (the demo's HAProxy takes 2000 connections)", l.clients, maxClients)
	case l.count < 1 || l.count > maxCount:
		return fmt.Errorf("-count %d: want 1..%d", l.count, maxCount)
	case l.inflight < 1 || l.inflight > maxInflight:
		return fmt.Errorf("-inflight %d: want 1..%d (MQTT packet identifiers)", l.inflight, maxInflight)
	case l.size < stamp.HeaderLen || l.size > maxSize:
		return fmt.Errorf("-size %d: want %d..%d bytes", l.size, stamp.HeaderLen, maxSize)
	case l.timeout <= 0 || l.stall <= 0 || o.start <= 0:
		return errors.New("-timeout, -stall and -start-timeout must be positive")
	case o.nodeCPU != 0 && (o.nodeCPU < 0.01 || o.nodeCPU > float64(cores)):
		return fmt.Errorf("-node-cpu %g: want 0 (no limit) or a number of CPUs from 0.01 to %d", o.nodeCPU, cores)
	case o.basePort < 0 || o.basePort > 65535-demo.OffsetProxyMQTT:
		return fmt.Errorf("-base-port %d: want 1..%d, or 0 for a free range", o.basePort, 65535-demo.OffsetProxyMQTT)
	}
	return nil
}
