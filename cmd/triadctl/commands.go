package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/triadmq/triad/version"
)

const usage = `usage: triadctl [global flags] COMMAND [flags] [NODE]

Commands:
  status [--json] [--watch]   the leader, epoch, pin, pause and every live node;
                              --watch reprints on every change until interrupted
  pin NODE [--force]          make NODE the preferred leader: the leader hands over
                              to it by switchover once it is healthy and in sync
                              (--force: NODE need not be running now)
  unpin                       remove the pin
  switchover [--to NODE]      hand leadership to an in-sync follower (NODE, or any)
                              and wait until it leads; no acknowledged data is lost
  failover --to NODE --force  promote NODE whatever its state and wait until it
                              leads: MAY LOSE acknowledged data if NODE lags
  pause                       stop automatic leader changes (including failover
                              when the leader dies) until resume
  resume                      allow automatic leader changes again
  history [--json]            every leadership change, oldest first
  revoke NODE                 revoke a dead node's etcd lease (for a service
                              manager's ExecStopPost) so its leadership and status
                              vanish now instead of after the lease TTL; without
                              NODE, the node.name of --config
  reinit NODE --config FILE   on NODE's machine, with NODE stopped: move its state
                              file aside (kept as state.db.corrupt-TIME) so that it
                              starts empty and the leader re-seeds it; the repair
                              for a node refusing a corrupt state file
  certs init --dir DIR --node NAME=HOST[,HOST...] [--node ...] [--days N] [--force]
                              make the replication mTLS certificates, offline (no
                              etcd): a CA for --cluster in DIR, or the one already
                              there, and a certificate and key per node, valid for
                              its HOSTs (IPs and DNS names) and --days (default
                              825); --force overwrites a node's existing files
  version                     print triadctl's version
  help                        print this help

Global flags (before or after the command):
  --etcd URL[,URL]     etcd client URLs (default: the endpoints of --config,
                       else $TRIAD_ETCD)
  --cluster NAME       the cluster (default: cluster.name of --config,
                       else $TRIAD_CLUSTER)
  --config FILE        a node's triad.yaml: its cluster name, etcd endpoints
                       (embedded member's client_url included) and etcd TLS
  --timeout DURATION   give up after this long (default 10s); switchover and
                       failover wait this long for the new leader
  -h, --help           print this help

Exit status: 0 success, 1 failure, 2 usage error.
`

const defaultTimeout = 10 * time.Second

// app is one triadctl invocation's environment.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one triadctl command.
type command struct {
	flags []string // the non-global flags it takes
	run   func(a *app, ctx context.Context, cl *cmdLine) error
}

var commands = map[string]command{
	"status":     {flags: []string{"json", "watch"}, run: (*app).status},
	"pin":        {flags: []string{"force"}, run: (*app).pin},
	"unpin":      {run: (*app).unpin},
	"switchover": {flags: []string{"to"}, run: (*app).switchover},
	"failover":   {flags: []string{"to", "force"}, run: (*app).failover},
	"pause":      {run: (*app).pause},
	"resume":     {run: (*app).resume},
	"history":    {flags: []string{"json"}, run: (*app).history},
	"revoke":     {run: (*app).revoke},
	"reinit":     {run: (*app).reinit},
	"certs":      {flags: []string{"dir", "node", "days", "force"}, run: (*app).certs},
	"version":    {run: (*app).version},
}

// main runs one command line; ctx is cancelled by SIGINT/SIGTERM.
func (a *app) main(ctx context.Context, args []string) int {
	cl, err := parseArgs(args)
	if errors.Is(err, errHelp) || (err == nil && cl.cmd == "help") {
		fmt.Fprint(a.stdout, usage)
		return 0
	}
	if err == nil && cl.cmd == "" {
		err = usagef("no command given")
	}
	var cmd command
	if err == nil {
		var ok bool
		if cmd, ok = commands[cl.cmd]; !ok {
			err = usagef("unknown command %q", cl.cmd)
		}
	}
	if err == nil {
		err = cl.checkFlags(cmd.flags)
	}
	if err == nil {
		err = cmd.run(a, ctx, cl)
	}
	return a.exit(err)
}

// exit reports err and returns the exit status for it.
func (a *app) exit(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "triadctl: %v\nRun 'triadctl help' for usage.\n", err)
		return 2
	default:
		fmt.Fprintf(a.stderr, "triadctl: %v\n", err)
		return 1
	}
}

func (a *app) version(_ context.Context, cl *cmdLine) error {
	if err := cl.noArgs(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "triadctl %s\n", version.Version)
	return nil
}
