// Command mochiplain is the plainest mochi-mqtt v2 broker, the baseline Triad
// is benchmarked against: no persistence, every client allowed, one TCP
// listener, and the same limits Triad sets by default (messages never expire
// unless the publisher says so; 1024 unacknowledged inbound QoS 1/2 messages
// per client; 10000 outbound QoS 1/2 messages held per client, which in mochi
// is one map for the queued and the in-flight ones; beyond it mochi drops).
// It exits cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "MQTT TCP listener `host:port`")
	level := flag.String("log-level", "warn", "debug | info | warn | error")
	flag.Parse()
	if err := run(*addr, *level); err != nil {
		fmt.Fprintf(os.Stderr, "mochiplain: %v\n", err)
		os.Exit(1)
	}
}

func run(addr, level string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumMessageExpiryInterval = 0 // as Triad: no server-imposed expiry
	caps.ReceiveMaximum = 1024
	caps.MaximumInflight = 10000 // Triad's max_queued_messages default
	server := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
	})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		return fmt.Errorf("add allow hook: %w", err)
	}
	if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", addr, err), closeServer(server))
	}
	if err := server.Serve(); err != nil {
		return errors.Join(fmt.Errorf("serve: %w", err), closeServer(server))
	}
	<-ctx.Done()
	return closeServer(server)
}

func closeServer(s *mqtt.Server) error {
	if err := s.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
