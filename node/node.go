// Package node assembles one Triad node: the broker over its durable state,
// and the HTTP endpoints for health checks, metrics and status.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/version"
)

// Node is a running node.
type Node struct {
	cfg      *config.Config
	log      *slog.Logger
	b        *broker.Broker
	httpSrv  *http.Server
	httpLn   net.Listener
	httpErr  chan error
	stopping atomic.Bool
}

// Start opens the state, starts serving MQTT and the HTTP endpoints. On
// error everything already started is stopped again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (n *Node, err error) {
	b, err := broker.Open(cfg, log)
	if err != nil {
		return nil, err
	}
	n = &Node{cfg: cfg, log: log, b: b, httpErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	if cfg.HTTP.Address != "" {
		if n.httpLn, err = net.Listen("tcp", cfg.HTTP.Address); err != nil {
			return n, fmt.Errorf("node: http listener on %s: %w", cfg.HTTP.Address, err)
		}
	}
	if err = b.Start(ctx); err != nil {
		return n, err
	}
	if n.httpLn != nil {
		n.httpSrv = &http.Server{Handler: n.handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := n.httpSrv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.httpErr <- fmt.Errorf("node: http: %w", err)
			}
		}()
	}
	log.Info("triad node serving", "node", cfg.Node.Name, "version", version.Version,
		"mqtt", b.ListenerAddrs(), "http", n.HTTPAddr())
	return n, nil
}

// Run serves until ctx ends (a clean stop, nil) or the node fails.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	n, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping: flushing state")
	case err := <-n.b.Failed():
		runErr = fmt.Errorf("node: state store failed: %w", err)
	case err := <-n.httpErr:
		runErr = err
	}
	return errors.Join(runErr, n.Close())
}

// Close stops accepting clients and HTTP requests, flushes state and
// closes the store.
func (n *Node) Close() error {
	n.stopping.Store(true)
	var errs []error
	if n.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: stop http: %w", err))
		}
	} else if n.httpLn != nil {
		if err := n.httpLn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close http listener: %w", err))
		}
	}
	if err := n.b.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// MQTTAddrs maps listener ids to bound addresses.
func (n *Node) MQTTAddrs() map[string]string { return n.b.ListenerAddrs() }

// HTTPAddr is the bound HTTP address, or "" when disabled.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}
