// Command triadctl administers a Triad cluster by talking to its etcd
// directly: status, pin, switchover, failover, pause, history, revoke; and
// makes the replication certificates (certs init), offline.
// Run "triadctl help" for the commands.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status: 0 success,
// 1 failure, 2 usage error. SIGINT and SIGTERM cancel the command (status
// --watch then exits 0).
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return a.main(ctx, args)
}
