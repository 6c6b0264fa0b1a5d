// Command triad is the Triad node daemon.
//
//	triad run --config FILE           serve MQTT from this node
//	triad check-config --config FILE  validate FILE; print the effective config
//	triad demo [--dir DIR] [--base-port N] [--cluster NAME] [--no-haproxy]
//	                                  run a three-node cluster on this machine
//	triad dynsec init|export|import   make, print or load a dynamic-security.json
//	triad systemd-generator DIR...    systemd generator (packaging)
//	triad version                     print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/node"
	"github.com/triadmq/triad/version"
)

const usage = `usage:
  triad run --config FILE           serve MQTT (SIGTERM/SIGINT: stop, flush, exit 0)
  triad check-config --config FILE  validate FILE and print the effective config
  triad demo [--dir DIR] [--base-port N] [--cluster NAME] [--no-haproxy]
                                    run a three-node cluster on 127.0.0.1 behind
                                    HAProxy and triad-lbagent (default ./triad-demo,
                                    ports 21883..21913, HAProxy's MQTT frontend at
                                    base+30, cluster demo); Ctrl-C stops it, SIGHUP
                                    restarts stopped processes
  triad dynsec init|export|import   make, print or load a dynamic-security.json
                                    (triad dynsec help)
  triad systemd-generator [--config FILE] DIR [DIR DIR]
                                    write triad.service drop-ins the config needs
                                    (CAP_NET_BIND_SERVICE, ReadWritePaths); run by
                                    systemd as triad-generator
  triad version                     print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code: 0 success,
// 1 failure, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "dynsec":
		return cmdDynsec(args[1:], os.Stdin, stdout, stderr)
	case "systemd-generator":
		return cmdSystemdGenerator(args[1:], stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "triad %s\n", version.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "triad: unknown command %q\n%s", args[0], usage)
	return 2
}

func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet("triad "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "triad %s: --config FILE is required and takes no other arguments\n", name)
		return "", false
	}
	return *path, true
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("check-config", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "triad: %v\n", err)
		return 1
	}
	out, err := cfg.Effective()
	if err != nil {
		fmt.Fprintf(stderr, "triad: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s: valid; effective configuration with defaults:\n%s", path, out)
	return 0
}

func cmdRun(args []string, stderr io.Writer) int {
	path, ok := configFlag("run", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "triad: %v\n", err)
		return 1
	}
	log := cfg.Logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := node.Run(ctx, cfg, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("triad stopped", "error", err)
		return 1
	}
	log.Info("triad stopped cleanly")
	return 0
}
