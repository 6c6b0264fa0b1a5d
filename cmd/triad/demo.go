package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/demo"
)

// cmdDemo runs a three-node cluster on this machine, with HAProxy and
// triad-lbagent in front of it (unless --no-haproxy), until SIGINT or
// SIGTERM; SIGHUP restarts the processes that have exited. See package demo.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("triad demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./"+demo.DefaultDir, "directory for the nodes' configs, data and logs, and demo.json")
	base := fs.Int("base-port", demo.DefaultBasePort, "first port: node i uses base+10*i (MQTT), +1 (HTTP), +2 and +3 (etcd), +4 (replication); HAProxy's MQTT frontend is base+30")
	cluster := fs.String("cluster", demo.DefaultCluster, "cluster name")
	noHAProxy := fs.Bool("no-haproxy", false, "run the nodes alone: no HAProxy and triad-lbagent in front (clients use the leader's own address)")
	mode := fs.String("mode", config.ModeFull, "cluster.mode: full (only the leader serves; everything replicated) or dynsec (every node serves; only dynamic security replicated; HAProxy sticks clients to their node)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "triad demo: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "triad demo: find the triad binary: %v\n", err)
		return 1
	}
	if *mode != config.ModeFull && *mode != config.ModeDynsec {
		fmt.Fprintf(stderr, "triad demo: --mode %q: must be %s or %s\n", *mode, config.ModeFull, config.ModeDynsec)
		return 2
	}
	layout, err := demo.PlanMode(*dir, *base, *cluster, *mode)
	if err != nil {
		fmt.Fprintf(stderr, "triad: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	restart := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case restart <- struct{}{}:
				default: // a restart is already pending
				}
			}
		}
	}()
	err = demo.Run(ctx, layout, demo.Options{
		Binary:  bin,
		Stdout:  stdout,
		Log:     slog.New(slog.NewTextHandler(stderr, nil)),
		Restart: restart,

		NoHAProxy: *noHAProxy,
	})
	if err != nil {
		fmt.Fprintf(stderr, "triad: %v\n", err)
		return 1
	}
	return 0
}
