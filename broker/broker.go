// Package broker is Triad's MQTT engine: mochi-mqtt with Triad's durable
// state underneath. Every state change is recorded as a state op through one
// group-committing writer, and nothing a client is told about a change (an
// ack, a delivery) leaves the node before the change is durable.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/sync/state"
)

const clientDrainTimeout = 5 * time.Second

// Broker is one node's MQTT broker over its durable state.
type Broker struct {
	cfg       *config.Config
	log       *slog.Logger
	store     *state.Store
	ownsStore bool
	c         *state.Committer
	d         Durability // what acknowledgements wait for: c, or the replication quorum
	srv       *mqtt.Server
	hook      *persistHook
	dynsec    *dynsecHook                   // nil unless dynsec.enabled
	onDynsec  func(idx uint64, file []byte) // Options.OnDynsecChange
	m         *metrics
	started   time.Time
	fence     Fence           // nil: standalone, always serving
	admit     *admission      // nil: no bound on connections worked on at once
	authority DynsecAuthority // Options.Authority
	walked    walkedCounts

	stopLoops context.CancelFunc

	failOnce sync.Once
	failed   chan error // receives the store failure once
	closed   sync.Once
}

// Options are what a cluster node gives its broker; the zero value is a
// standalone broker.
type Options struct {
	// Store is the node's open state store; the broker does not close it.
	// Nil: Open opens the store under node.data_dir and owns it.
	Store *state.Store
	// Fence is checked on every client read, write and accept.
	Fence Fence
	// Epoch is stamped on every entry the broker records.
	Epoch int64
	// OnApplied receives every durable batch of entries; OnAppend every
	// entry as it is appended (the replication log's feed). See
	// state.CommitterOptions.
	OnApplied func([]state.Entry)
	OnAppend  func(state.Entry)
	// Durability, if set, wraps the committer's durability: client
	// acknowledgements wait for what it reports (the replication quorum).
	Durability func(local Durability) Durability
	// OnDynsecChange, if set, receives the dynamic-security configuration
	// file after each change, with the index of the entry recording it.
	OnDynsecChange func(idx uint64, file []byte)
	// Authority, with cluster.mode dynsec, holds the cluster's
	// dynamic-security configuration and runs the control requests; the
	// broker records neither in its own store and takes changes through
	// ApplyDynsec (dynsec_authority.go).
	Authority DynsecAuthority
	// Dir, if set, is where Open opens the broker's own store when Store
	// is nil; default node.data_dir.
	Dir string
}

// Open opens the node's state and prepares a standalone broker; Start
// serves it.
func Open(cfg *config.Config, log *slog.Logger) (*Broker, error) {
	return OpenWith(cfg, log, Options{})
}

// OpenWith prepares a broker with opts; Start serves it.
func OpenWith(cfg *config.Config, log *slog.Logger, opts Options) (*Broker, error) {
	store, owns := opts.Store, false
	if store == nil {
		dir := cfg.Node.DataDir
		if opts.Dir != "" {
			dir = opts.Dir
		}
		var err error
		if store, err = state.Open(dir, state.Options{NoSync: cfg.Store.NoSync, Verify: true}); err != nil {
			return nil, err
		}
		owns = true
	}
	if cfg.Store.NoSync {
		log.Warn("store.no_sync is set: acknowledged messages can be lost on power failure")
	}
	b := &Broker{cfg: cfg, log: log, store: store, ownsStore: owns, fence: opts.Fence,
		m: newMetrics(), failed: make(chan error, 1), onDynsec: opts.OnDynsecChange, authority: opts.Authority,
		admit: newAdmission(cfg.MQTT.Admission.MaxConcurrentConnects, cfg.MQTT.Admission.MaxConnectRate)}
	b.c = state.NewCommitter(store, state.CommitterOptions{
		MaxBatch:    cfg.Store.MaxBatch,
		MaxBatchAge: cfg.Store.MaxBatchAge.D(),
		OnCommit:    b.m.observeCommit,
		OnFail:      b.storeFailed,
		OnApplied:   opts.OnApplied,
		OnAppend:    opts.OnAppend,
	})
	b.c.SetEpoch(opts.Epoch)
	b.d = b.c
	if opts.Durability != nil {
		b.d = opts.Durability(b.c)
	}
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           capabilities(&cfg.MQTT.Limits),
		Logger:                 log.With("component", "mqtt"),
		SysTopicResendInterval: 10,
		InlineClient:           cfg.Dynsec.Enabled, // publishes the control API's responses
	})
	b.hook = newPersistHook(b.srv, b.c, b.m, log.With("component", "persist"),
		hookLimits{maxInflight: cfg.MQTT.Limits.MaxInflight,
			messageExpiry: int64(cfg.MQTT.Limits.MessageExpiry.D() / time.Second)})
	b.m.watchServer(b.srv, b.c)
	b.m.watchAdmission(b.admit)
	return b, nil
}

// capabilities maps Triad's limits onto mochi's, overriding mochi's
// dangerous defaults (a 24 h message expiry that also deletes retained
// messages).
func capabilities(l *config.Limits) *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumClients = math.MaxInt64
	if l.MaxClients > 0 {
		c.MaximumClients = l.MaxClients
	}
	// mochi's expiry cap also deletes retained messages by age and makes
	// Created a time; Triad applies message_expiry itself (hook_expiry.go).
	c.MaximumMessageExpiryInterval = 0
	c.MaximumSessionExpiryInterval = math.MaxUint32
	if s := l.SessionExpiryMax.D() / time.Second; s > 0 && s < math.MaxUint32 {
		c.MaximumSessionExpiryInterval = uint32(s)
	}
	c.MaximumPacketSize = l.MaxPacketSize
	c.ReceiveMaximum = l.ReceiveMaximum
	c.MaximumInflight = uint16(min(l.MaxQueuedMessages, math.MaxUint16))
	// mochi allocates this queue in full for every client (64 KB at its
	// default of 8192), restored offline sessions included; the gated
	// connection takes what the queue hands it without waiting for the
	// disk, so it drains at once unless a client is slow (gate.go).
	if l.MaxClientWritesPending > 0 {
		c.MaximumClientWritesPending = int32(min(l.MaxClientWritesPending, math.MaxInt32))
	}
	return c
}

// Start loads the stored state into the engine, makes any repairs durable,
// then opens the listeners.
func (b *Broker) Start(ctx context.Context) error {
	snap, err := b.store.Load()
	if err != nil {
		return err
	}
	seed, err := b.addHooks(snap)
	if err != nil {
		return err
	}
	ops, err := b.hook.restore(snap)
	if err != nil {
		return fmt.Errorf("broker: restore state: %w", err)
	}
	if seed != nil {
		ops = append(ops, state.Op{Kind: state.OpDynsecPut, Dynsec: seed})
	}
	if len(ops) > 0 {
		idx, err := b.c.Append(ops...)
		if err != nil {
			return fmt.Errorf("broker: record restored state: %w", err)
		}
		if err := b.c.Wait(ctx, idx); err != nil {
			return fmt.Errorf("broker: record restored state: %w", err)
		}
	}
	b.log.Info("state loaded", "sessions", len(snap.Sessions), "subscriptions", len(snap.Subs),
		"retained", len(snap.Retained), "deliveries", len(snap.Deliveries),
		"messages", len(snap.Msgs), "applied_index", snap.Applied, "repairs", len(ops))

	for _, lc := range b.cfg.MQTT.Listeners {
		l, err := newListener(lc, func(reason string) { b.m.proxyRefused.WithLabelValues(reason).Inc() })
		if err != nil {
			return err
		}
		gl := newGatedListener(l, b.srv, b.d, b.fence, b.admit, b.log)
		if err := b.srv.AddListener(gl); err != nil {
			return fmt.Errorf("broker: listener %q on %s: %w", lc.ID, lc.Address, err)
		}
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: serve: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	b.stopLoops = cancel
	go b.hook.expireLoop(loopCtx)
	b.started = time.Now()
	return nil
}

// Failed receives the store's failure: the broker can no longer make
// anything durable, so its owner must stop it.
func (b *Broker) Failed() <-chan error { return b.failed }

func (b *Broker) storeFailed(err error) {
	b.m.storeFailed.Set(1)
	b.log.Error("state store failed: no further acknowledgements will be sent", "error", err)
	b.failOnce.Do(func() { b.failed <- err })
}

// Close stops serving: listeners close and clients are disconnected, then
// what was recorded is flushed and the store is closed.
func (b *Broker) Close() error {
	var errs []error
	b.closed.Do(func() {
		if b.stopLoops != nil {
			b.stopLoops()
		}
		if err := b.srv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("broker: stop mqtt: %w", err))
		}
		// Let client goroutines record their disconnects before the flush.
		done := make(chan struct{})
		go func() { b.srv.Listeners.ClientsWg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(clientDrainTimeout):
			b.log.Warn("clients still running at shutdown", "timeout", clientDrainTimeout)
		}
		if err := b.c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("broker: flush state: %w", err))
		}
		if b.ownsStore {
			if err := b.store.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// Gatherer is the broker's Prometheus registry.
func (b *Broker) Gatherer() prometheus.Gatherer { return b.m.reg }

// ListenerAddrs maps listener ids to their bound addresses (useful with
// port 0).
func (b *Broker) ListenerAddrs() map[string]string {
	out := map[string]string{}
	for _, lc := range b.cfg.MQTT.Listeners {
		if l, ok := b.srv.Listeners.Get(lc.ID); ok {
			out[lc.ID] = l.Address()
		}
	}
	return out
}

// Status is a snapshot of the broker's counters.
type Status struct {
	Connections   int64     `json:"connections"`
	Sessions      int       `json:"sessions"`
	Subscriptions int64     `json:"subscriptions"`
	Retained      int       `json:"retained"`
	Inflight      int64     `json:"inflight"`
	AppliedIndex  uint64    `json:"applied_index"`
	StoreFailed   bool      `json:"store_failed"`
	Started       time.Time `json:"started"`
}

// AppliedIndex is the index of the last durable entry of the broker's
// store (Status().AppliedIndex without the walk).
func (b *Broker) AppliedIndex() uint64 { return b.c.Durable() }

// StoreFailed says whether the broker's store has failed (a closed store
// has not). Cheap: the health checks ask it at every probe.
func (b *Broker) StoreFailed() bool {
	err := b.c.Err()
	return err != nil && !errors.Is(err, state.ErrClosed)
}

// Status reads the broker's counters; the in-flight and retained counts
// may be up to a second old (walkedEvery).
func (b *Broker) Status() Status {
	inflight, retained := b.walked.get(b.srv)
	return Status{
		Connections:   atomic.LoadInt64(&b.srv.Info.ClientsConnected),
		Sessions:      b.srv.Clients.Len(),
		Subscriptions: atomic.LoadInt64(&b.srv.Info.Subscriptions),
		Retained:      retained,
		Inflight:      inflight,
		AppliedIndex:  b.c.Durable(),
		StoreFailed:   b.StoreFailed(),
		Started:       b.started,
	}
}

// Digest hashes the broker's state store (see state.Store.Digest).
func (b *Broker) Digest() (state.Digest, error) { return b.store.Digest() }
