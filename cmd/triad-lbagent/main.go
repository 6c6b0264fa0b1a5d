// Command triad-lbagent keeps one HAProxy pointed at a Triad cluster's
// leader: it watches the leader key in etcd and drives HAProxy through its
// Runtime API (docs/lbagent.md).
//
//	triad-lbagent run --config FILE           follow the leader until SIGTERM/SIGINT
//	triad-lbagent check-config --config FILE  validate FILE; print the effective config
//	triad-lbagent version                     print the version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/triadmq/triad/lbagent"
	"github.com/triadmq/triad/version"
)

const usage = `usage:
  triad-lbagent run --config FILE           follow the cluster's leader, driving HAProxy
                                            (SIGTERM/SIGINT: stop; HAProxy is left as it is)
  triad-lbagent check-config --config FILE  validate FILE and print the effective config
  triad-lbagent version                     print the version

FILE is YAML, by default /etc/triad/lbagent.yaml (see packaging/lbagent.yaml).
`

// DefaultConfig is the config file when --config is not given.
const DefaultConfig = "/etc/triad/lbagent.yaml"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the exit status: 0 success, 1
// failure, 2 usage error. Cancelling ctx stops "run" (status 0).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "triad-lbagent %s\n", version.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "triad-lbagent: unknown command %q\n%s", args[0], usage)
	return 2
}

// configFlag parses the command's flags: only --config, no arguments.
func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet("triad-lbagent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", DefaultConfig, "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "triad-lbagent %s: takes only --config FILE (got %q)\n", name, fs.Args())
		return "", false
	}
	return *path, true
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("check-config", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := lbagent.LoadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "triad-lbagent: %v\n", err)
		return 1
	}
	out, err := cfg.Effective()
	if err != nil {
		fmt.Fprintf(stderr, "triad-lbagent: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s: valid; effective configuration with defaults:\n%s", path, out)
	return 0
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) int {
	path, ok := configFlag("run", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := lbagent.LoadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "triad-lbagent: %v\n", err)
		return 1
	}
	log := cfg.Logger(stderr).With("version", version.Version)
	a, err := lbagent.New(cfg, lbagent.Options{Log: log})
	if err != nil {
		log.Error("triad-lbagent cannot start", "config", path, "error", err)
		return 1
	}
	runErr := a.Run(ctx)
	if err := a.Close(); err != nil {
		log.Warn("closing", "error", err)
	}
	if runErr != nil {
		log.Error("triad-lbagent stopped", "error", runErr)
		return 1
	}
	log.Info("triad-lbagent stopped cleanly")
	return 0
}
