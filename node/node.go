// Package node assembles one Triad node: the broker over its durable state,
// leadership (in a cluster), and the HTTP endpoints for health checks,
// metrics and status.
//
// A standalone node (no cluster section) serves MQTT at once. A cluster
// node serves MQTT only while it leads: the elector's Promote opens a fresh
// broker over the local state, Demote closes it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/internal/sdnotify"
	"github.com/triadmq/triad/sync/state"
	"github.com/triadmq/triad/version"
)

// Node is a running node.
type Node struct {
	cfg      *config.Config
	log      *slog.Logger
	httpSrv  *http.Server
	httpLn   net.Listener
	failed   chan error // a fatal error of a part: the HTTP server, the store, the etcd member
	stopping atomic.Bool
	started  time.Time
	metrics  *nodeMetrics
	mirror   *dynsecMirror // dynsec.file, kept equal to the replicated configuration

	mu      sync.Mutex
	b       *broker.Broker // nil while not serving (a cluster follower)
	bDone   chan struct{}  // closed when b is detached
	applied uint64         // applied index of the local state when no broker runs
	// storeErr is a follower's last failed write to its store (disk full,
	// I/O error), cleared by the next one that succeeds: the node is not
	// healthy meanwhile.
	storeErr error

	// cluster mode only
	store    *state.Store // open for the node's life with replication (else the broker opens it)
	repl     *replica     // nil without cluster.replication
	dm       *dynsecMode  // cluster.mode dynsec only
	member   *election.Member
	cli      *clientv3.Client
	el       *election.Elector
	elCancel context.CancelFunc
	elDone   chan struct{}
}

// Start starts the node: in standalone mode it opens the state and serves
// MQTT; in cluster mode it starts the HTTP endpoints, the embedded etcd
// member if configured, and the elector. On error everything already
// started is stopped again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (n *Node, err error) {
	n = &Node{cfg: cfg, log: log, failed: make(chan error, 4), started: time.Now(), metrics: newNodeMetrics(),
		mirror: &dynsecMirror{path: cfg.Dynsec.File, log: log.With("component", "dynsec")}}
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
	if cfg.Cluster == nil {
		b, err := broker.OpenWith(cfg, log, broker.Options{OnDynsecChange: n.mirror.write})
		if err != nil {
			return n, err
		}
		if err := b.Start(ctx); err != nil {
			return n, errors.Join(err, b.Close())
		}
		n.setBroker(b)
	}
	n.registerNodeMetrics()
	if cfg.Cluster != nil {
		if err := n.newElector(); err != nil {
			return n, err
		}
		if n.repl != nil {
			n.registerReplicationMetrics()
		}
	}
	if cfg.Cluster != nil && cfg.Cluster.Mode == config.ModeDynsec {
		if err := n.startDynsecMode(ctx); err != nil {
			return n, err
		}
	}
	n.serveHTTP()
	if cfg.Cluster != nil {
		if err := n.startCluster(ctx); err != nil {
			return n, err
		}
		log.Info("triad node running", "node", cfg.Node.Name, "cluster", cfg.Cluster.Name,
			"version", version.Version, "http", n.HTTPAddr())
		return n, nil
	}
	log.Info("triad node serving", "node", cfg.Node.Name, "version", version.Version,
		"mqtt", n.MQTTAddrs(), "http", n.HTTPAddr())
	return n, nil
}

func (n *Node) serveHTTP() {
	if n.httpLn == nil {
		return
	}
	n.httpSrv = &http.Server{Handler: n.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := n.httpSrv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.fail(fmt.Errorf("node: http: %w", err))
		}
	}()
}

// fail reports a fatal error to Run.
func (n *Node) fail(err error) {
	select {
	case n.failed <- err:
	default:
	}
}

// Run serves until ctx ends (a clean stop, nil) or the node fails.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	n, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	sd := sdnotify.FromEnv()
	notifyCtx, stopNotify := context.WithCancel(ctx)
	notified := make(chan struct{})
	go func() { defer close(notified); n.notifySystemd(notifyCtx, sd) }()
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping: flushing state")
	case runErr = <-n.failed:
	}
	stopNotify()
	<-notified
	systemdStopping(sd, log)
	return errors.Join(runErr, n.Close())
}

// Close stops the node: a cluster leader hands over and revokes its lease;
// clients are disconnected, state is flushed and the store closed.
func (n *Node) Close() error {
	n.stopping.Store(true)
	var errs []error
	if n.elDone != nil {
		n.el.Kick()
		n.elCancel()
		<-n.elDone
	}
	if n.repl != nil {
		n.repl.unfollow()
	}
	if b := n.takeBroker(); b != nil {
		if err := b.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.repl != nil {
		n.repl.unlead()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.cli != nil {
		if err := n.cli.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close etcd client: %w", err))
		}
	}
	if n.member != nil {
		n.member.Close()
	}
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
	return errors.Join(errs...)
}

func (n *Node) broker() *broker.Broker {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b
}

// setBroker makes b the running broker; the returned channel is closed
// when it is detached.
func (n *Node) setBroker(b *broker.Broker) <-chan struct{} {
	done := make(chan struct{})
	n.mu.Lock()
	n.b, n.bDone = b, done
	n.mu.Unlock()
	go func() {
		select {
		case err := <-b.Failed():
			n.fail(fmt.Errorf("node: state store failed: %w", err))
		case <-done:
		}
	}()
	return done
}

// takeBroker detaches the running broker (nil if none), remembering its
// applied index.
func (n *Node) takeBroker() *broker.Broker {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.b
	if b != nil {
		n.applied = b.AppliedIndex()
		close(n.bDone)
		n.b, n.bDone = nil, nil
	}
	return b
}

// MQTTAddrs maps listener ids to bound addresses; empty while the node
// does not serve.
func (n *Node) MQTTAddrs() map[string]string {
	if b := n.broker(); b != nil {
		return b.ListenerAddrs()
	}
	return map[string]string{}
}

// HTTPAddr is the bound HTTP address, or "" when disabled.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}
