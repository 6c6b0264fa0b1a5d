package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// interrupts cancels a context on SIGINT or SIGTERM and remembers the signal,
// so that main can report what it has and then die of that same signal: a
// shell running loadgen only stops its script when the child was killed by
// the signal, not when it exited on its own.
type interrupts struct {
	mu   sync.Mutex
	sig  syscall.Signal
	stop func()
}

func watchInterrupts(parent context.Context) (context.Context, *interrupts) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	in := &interrupts{}
	done := make(chan struct{})
	in.stop = func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
	go func() {
		select {
		case s := <-ch:
			in.mu.Lock()
			in.sig = s.(syscall.Signal)
			in.mu.Unlock()
			cancel()
		case <-done:
		}
	}()
	return ctx, in
}

// reraise stops watching and, if a signal arrived, kills the process with it
// under the default disposition. It returns the exit status to use should the
// process survive that (128 + signal, as shells report it), or 0.
func (in *interrupts) reraise() int {
	in.stop()
	in.mu.Lock()
	sig := in.sig
	in.mu.Unlock()
	if sig == 0 {
		return 0
	}
	signal.Reset(sig)
	if err := syscall.Kill(os.Getpid(), sig); err == nil {
		// Delivery is asynchronous; this bound only matters if it never comes.
		<-time.After(time.Second)
	}
	return 128 + int(sig)
}
