// Package runctl holds what the benchmark commands share to run and end
// well: JSON output and dying of the signal that interrupted them.
package runctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// WriteJSON writes v as one line of JSON.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Interrupts cancels a context on SIGINT or SIGTERM and remembers the
// signal, so that main can stop the cluster, report what it has and then
// die of that same signal (as bench/loadgen does: a calling shell script
// stops only when its child was killed by the signal).
type Interrupts struct {
	sig  syscall.Signal // set by the watcher before finished closes
	stop func()         // stops watching; returns once the watcher has ended
}

// ErrInterrupted is the cause of a context cancelled by a signal.
var ErrInterrupted = errors.New("interrupted")

// WatchInterrupts returns a context cancelled (cause ErrInterrupted) on
// SIGINT or SIGTERM.
func WatchInterrupts(parent context.Context) (context.Context, *Interrupts) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	in := &Interrupts{}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case s := <-ch:
			in.sig = s.(syscall.Signal)
			cancel(fmt.Errorf("%w by signal %d (%v)", ErrInterrupted, in.sig, s))
		case <-done:
		}
	}()
	in.stop = func() {
		signal.Stop(ch)
		close(done)
		<-finished
		cancel(nil)
	}
	return ctx, in
}

// Reraise stops watching and, if a signal arrived, kills the process with
// it under the default disposition. It returns the exit status to use
// should the process survive that (128 + signal), or 0.
func (in *Interrupts) Reraise() int {
	in.stop()
	if in.sig == 0 {
		return 0
	}
	signal.Reset(in.sig)
	if err := syscall.Kill(os.Getpid(), in.sig); err == nil {
		<-time.After(time.Second) // delivery is asynchronous; this bound only matters if it never comes
	}
	return 128 + int(in.sig)
}
