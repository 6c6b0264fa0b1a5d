// Command modes compares the aggregate QoS 1 throughput of Triad's two
// cluster modes through HAProxy (`make bench-modes`; bench/README.md,
// "Cluster modes"; docs/cluster-modes.md).
//
// For each mode of -modes (full, then dynsec) it starts `bin/triad demo
// --mode M` in a temporary directory of its own on a free range of ports
// and waits until HAProxy routes as the mode wants (full: the leader
// alone, its two followers in sync; dynsec: every node) and a client gets
// a CONNACK through it. It puts each `triad run` node process under a CPU
// budget (-node-cpu, a cgroup quota), runs the load through HAProxy,
// reads each node's connection count, and stops the demo (SIGTERM,
// SIGKILL after a bound) before the next mode starts. It prints a table:
// per mode the messages acknowledged, delivered and lost, the aggregate
// msg/s and the latency percentiles, then dynsec/full and the clients per
// node; with -json one JSON object on stdout (the table on stderr).
//
// The load is -clients loopback clients (client.go): each subscribes at
// QoS 1 to a topic of its own and publishes -count messages to it, at
// most -inflight unacknowledged. A message comes back on the connection
// that sent it, so publisher and subscriber always share a node, which
// dynsec mode needs (it forwards nothing between nodes).
//
// Exit status: 0 every mode ran and delivered every acknowledged message;
// 1 an acknowledged message was not delivered, or a mode failed; 2 bad
// flags; killed by the signal (130, 143) when interrupted.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/triadmq/triad/bench/internal/runctl"
	"github.com/triadmq/triad/demo"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "modes: %v\n", err)
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, in := runctl.WatchInterrupts(context.Background())
	status := run(ctx, o, stdout, stderr, log)
	if code := in.Reraise(); code != 0 {
		return code
	}
	return status
}

// run runs every mode, writes the report and returns the exit status.
func run(ctx context.Context, o options, stdout, stderr io.Writer, log *slog.Logger) int {
	started := time.Now()
	root, err := os.MkdirTemp("", "triad-modes-")
	if err != nil {
		fmt.Fprintf(stderr, "modes: temporary directory: %v\n", err)
		return 1
	}
	budget := newCPUBudget(cgroupRoot, o.nodeCPU)
	if budget.unset != "" {
		fmt.Fprintf(stderr, "\n!!!! modes: %s; running WITHOUT a CPU budget: the three nodes share the machine\n\n", budget.unset)
	}
	runID := strings.ToLower(rand.Text()[:8])
	var results []modeResult
	for _, mode := range o.modes {
		if ctx.Err() != nil {
			break
		}
		results = append(results, runMode(ctx, o, mode, root, runID, budget, log, stderr))
	}
	status := 0
	if err := budget.remove(); err != nil {
		log.Error("cpu budget", "error", err)
		status = 1
	}
	rep := report{Clients: o.load.clients, Count: o.load.count, Inflight: o.load.inflight, Size: o.load.size,
		Cores: runtime.NumCPU(), NodeCPU: budget.cpus, Budget: budget.String(), Modes: results,
		ElapsedS: time.Since(started).Seconds()}
	rep.Ratio, rep.RatioWhy = throughputRatio(results)
	tableOut := stdout
	if o.asJSON {
		tableOut = stderr // stdout stays one JSON object
		if err := runctl.WriteJSON(stdout, rep); err != nil {
			log.Error("write JSON", "error", err)
			status = 1
		}
	}
	if err := writeReport(tableOut, rep); err != nil {
		log.Error("report", "error", err)
		status = 1
	}
	if cause := context.Cause(ctx); cause != nil {
		fmt.Fprintf(stderr, "\n!!!! modes: stopped early: %v\n\n", cause)
		status = 1
	}
	if !rep.ok() {
		status = 1
	}
	if status != 0 || o.keep {
		log.Info("files kept: each mode's demo.log, and under cluster/ the node logs (nN/triad.log) and haproxy/haproxy.log", "dir", root)
	} else if err := os.RemoveAll(root); err != nil {
		log.Warn("remove the temporary directory", "dir", root, "error", err)
	}
	return status
}

// runMode starts mode's demo, waits for it, limits its nodes' CPU, runs
// the load and stops the demo. What went wrong is in the result's Error;
// on a start-up failure the end of the logs goes to stderr.
func runMode(ctx context.Context, o options, mode, root, runID string, budget *cpuBudget, log *slog.Logger, stderr io.Writer) modeResult {
	res := modeResult{Mode: mode, loadResult: loadResult{Clients: o.load.clients, Messages: o.load.clients * o.load.count}}
	base := o.basePort
	if base == 0 {
		var err error
		if base, err = demo.FreeBasePort(); err != nil {
			res.Error = err.Error()
			return res
		}
	}
	began := time.Now()
	c, err := startCluster(o.triad, mode, root, base, log)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	err = loadCluster(ctx, o, c, runID, budget, began, &res)
	switch {
	case ctx.Err() != nil: // interrupted: the logs tell nothing new
	case err != nil && c.m == nil:
		fmt.Fprintf(stderr, "\n!!!! modes: %s: the demo did not get ready: %v\n%s\n", mode, err, c.logTails(15))
	case err != nil || res.Lost > 0:
		fmt.Fprintf(stderr, "\n!!!! modes: %s: the load failed (%d acknowledged messages lost): %v\n%s\n", mode, res.Lost, err, c.logTails(15))
	}
	stopped, serr := c.stop()
	res.StopS = stopped.Seconds()
	log.Info("demo stopped", "mode", mode, "after", stopped.Round(time.Millisecond))
	if err := errors.Join(err, serr); err != nil {
		res.Error = err.Error()
	}
	return res
}

// loadCluster waits for the demo c, started at began, puts its nodes
// under the budget and runs the load, filling res.
func loadCluster(ctx context.Context, o options, c *cluster, runID string, budget *cpuBudget, began time.Time, res *modeResult) error {
	if err := c.waitReady(ctx, o.start); err != nil {
		return fmt.Errorf("%s demo: %w", c.mode, err)
	}
	res.StartS = time.Since(began).Seconds()
	pids, err := c.nodePIDs()
	if err != nil {
		return err
	}
	cgroups := map[string]string{}
	for _, n := range c.m.Nodes {
		if cgroups[n.Name], err = budget.limit(c.mode+"-"+n.Name, pids[n.Name]); err != nil {
			return err
		}
	}
	c.log.Info("ready; load starts", "mqtt", c.m.MQTT, "clients", o.load.clients, "budget", budget.String())
	meter := startCPUMeter(c.meteredProcs(cgroups))
	lr, err := runLoad(ctx, c.m.MQTT, "modes-"+runID+"-"+c.mode, o.load, func(ctx context.Context) {
		res.CPU, res.Machine = meter.stop()
		// Asked even when interrupted: each GET is bounded by httpTimeout.
		res.Nodes = countClients(context.WithoutCancel(ctx), c.m)
	})
	res.loadResult = lr
	res.NodeMicrosPerMsg = nodeMicrosPerMsg(res.CPU, lr.MsgPerSec)
	c.log.Info("load done", "delivered", lr.Delivered, "lost", lr.Lost, "msg_per_s", int(lr.MsgPerSec))
	if err != nil {
		return fmt.Errorf("%s load: %w", c.mode, err)
	}
	// The demo must still be whole: a node that died mid-load would make
	// the figures mean something else.
	select {
	case <-c.exited:
		return fmt.Errorf("%w during the load (%v)", errDemoExited, c.exitErr)
	default:
	}
	for name, pid := range pids {
		if !runsUnder(pid, c.dir) {
			return fmt.Errorf("%s demo: node %s (pid %d) exited during the load", c.mode, name, pid)
		}
	}
	return nil
}
