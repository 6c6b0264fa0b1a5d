package lbagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

// Balancer is the part of HAProxy's Runtime API the agent drives. *Runtime
// implements it, and so does the in-memory MemHAProxy.
type Balancer interface {
	// ServersState returns every server of backend and its state.
	ServersState(ctx context.Context, backend string) ([]ServerState, error)
	// SetServerState sets a server's admin state (ready, drain, maint).
	SetServerState(ctx context.Context, backend, server string, state Admin) error
	// ShutdownSessions closes every client session through a server.
	ShutdownSessions(ctx context.Context, backend, server string) error
}

// SessionCounter is a Balancer that can also count each server's current
// sessions. With it the agent closes sessions left on a server that is
// already in maint (a shutdown that failed, clients that arrived while
// every server was ready in fallback); without it, it closes sessions only
// when it puts a server into maint.
type SessionCounter interface {
	ServerStats(ctx context.Context, backend string) ([]ServerStat, error)
}

// Options are an Agent's collaborators; the zero value builds them all
// from the Config.
type Options struct {
	Log     *slog.Logger     // nil: discard
	HAProxy Balancer         // nil: a Runtime of cfg.HAProxy.Socket
	Etcd    *clientv3.Client // nil: a client of cfg.Etcd, closed by Close
	Now     func() time.Time // nil: time.Now
}

// Agent keeps one HAProxy backend pointed at one Triad cluster's leader.
// Several agents, each driving its own HAProxy, can follow the same
// cluster: an agent only reads etcd and writes nothing but its HAProxy.
type Agent struct {
	cfg     *Config
	log     *slog.Logger
	lb      Balancer
	etcd    *clientv3.Client
	ownEtcd bool
	keys    election.Keys
	now     func() time.Time

	// main loop only
	know        knowledge
	lastRev     int64
	lastGoal    goal
	lastProblem string // of the last plan
	lastErr     string // of the last reconcile pass
	// lastRecordProblem is why the last leader record read was not taken.
	lastRecordProblem string
	lastSeen          knowledge // when the last leader was read (for logs)

	mu     sync.Mutex // guards status
	status Status
}

// Status is a snapshot of what an Agent knows and did.
type Status struct {
	Leader       string    // the leader the agent follows; "": none
	Epoch        int64     // its epoch (the leader key's create revision)
	EtcdErr      error     // the last etcd read or watch failed with this; nil: etcd answers
	UnknownSince time.Time // since when no leader is known; zero: one is
	Goal         string    // what the agent drives HAProxy to, in words
	Fallback     bool      // every server is left to HAProxy's health checks
	Reconciles   int64     // reconcile passes finished
	LastErr      error     // the last pass's HAProxy error; nil: it reached its goal
	Changes      int64     // server changes made since start
}

// New validates cfg (defaults applied, as LoadConfig returns it) and
// builds an agent. It connects to nothing yet: etcd's client dials lazily
// and HAProxy is reached per command.
func New(cfg *Config, o Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: o.Log, lb: o.HAProxy, etcd: o.Etcd, keys: election.NewKeys(cfg.Cluster), now: o.Now}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.lb == nil {
		rt, err := NewRuntime(cfg.HAProxy.Socket, cfg.HAProxy.Timeout.D())
		if err != nil {
			return nil, err
		}
		a.lb = rt
	}
	if a.etcd == nil {
		c, err := election.NewClient(election.ClientOptions{
			Endpoints: cfg.Etcd.Endpoints, DialTimeout: cfg.Etcd.DialTimeout.D(), TLS: cfg.Etcd.TLS,
		})
		if err != nil {
			return nil, err
		}
		a.etcd, a.ownEtcd = c, true
	}
	return a, nil
}

// Close closes the etcd client New made (not one passed in Options). Call
// it after Run has returned.
func (a *Agent) Close() error {
	if !a.ownEtcd {
		return nil
	}
	if err := a.etcd.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd client: %w", err)
	}
	return nil
}

// Status returns a snapshot of the agent's state; safe from any goroutine.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// Run follows the leader until ctx is cancelled, then returns nil; it has
// no other way to end: etcd and HAProxy failures are logged and retried.
// It changes nothing in HAProxy on its way out.
//
// One goroutine (Run's) owns the agent's knowledge and every HAProxy
// command; a second one reads etcd (watchLeader) and hands it observations.
// Run reconciles when what it knows changes, and every reconcile_interval.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("lbagent starting", "cluster", a.cfg.Cluster, "leader_key", a.keys.Leader(),
		"haproxy", a.cfg.HAProxy.Socket, "backend", a.cfg.HAProxy.Backend,
		"reconcile_interval", a.cfg.ReconcileInterval.D(), "fallback_after", a.cfg.FallbackAfter.D())
	a.know = knowledge{unknownSince: a.now()}
	a.lastGoal = goal{kind: goalHold}

	wctx, cancel := context.WithCancel(ctx)
	obs := make(chan observation)
	var wg sync.WaitGroup
	wg.Go(func() { a.watchLeader(wctx, obs) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	tick := time.NewTicker(a.cfg.ReconcileInterval.D())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			a.log.Info("lbagent stopping; HAProxy left as it is", "goal", a.lastGoal.String())
			return nil
		case o := <-obs:
			if a.observe(o) {
				a.reconcile(ctx, "etcd")
			}
		case <-tick.C:
			a.reconcile(ctx, "periodic")
		}
	}
}

// observe folds an observation into the agent's knowledge and reports
// whether the goal may have changed (main loop only). A watch event older
// than a reading already taken (by etcd revision) is dropped.
func (a *Agent) observe(o observation) bool {
	before := a.know
	switch {
	case o.err != nil:
		if before.etcdErr == nil {
			a.log.Warn("etcd unreachable; keeping the last known leader", "leader", before.leader,
				"epoch", before.epoch, "fallback_after", a.cfg.FallbackAfter.D(), "error", o.err)
		}
		a.know.etcdErr = o.err
		if a.know.unknownSince.IsZero() {
			a.know.unknownSince = a.now()
		}
		a.setStatus(func(s *Status) { s.EtcdErr = o.err })
		return false // it keeps the goal; the next tick applies the fallback when due
	case o.rev < a.lastRev && !o.read:
		return false // a watch event older than a read already taken
	case o.rev < a.lastRev:
		// A linearizable read is never older than what was seen before
		// on the same etcd: this one was replaced or restored.
		a.log.Warn("etcd revision went backwards (restored from a backup?); taking its view",
			"revision", o.rev, "previous_revision", a.lastRev)
	}
	firstRead := a.lastRev == 0
	a.lastRev = o.rev
	if before.etcdErr != nil {
		a.log.Info("etcd answers again", "revision", o.rev)
	}
	a.know.etcdErr = nil
	a.setStatus(func(s *Status) { s.EtcdErr = nil })
	if o.leader == "" {
		if firstRead || before.leader != "" || before.etcdErr != nil || o.problem != a.lastRecordProblem {
			a.log.Info("no leader in etcd; HAProxy left as it is until one is elected",
				"last_leader", before.leader, "fallback_after", a.cfg.FallbackAfter.D(), "problem", o.problem)
		}
		a.know.leader, a.know.epoch, a.lastRecordProblem = "", 0, o.problem
		if a.know.unknownSince.IsZero() {
			a.know.unknownSince = a.now()
		}
		return before.leader != ""
	}
	if o.leader != before.leader || o.epoch != before.epoch {
		a.log.Info("leader changed", "leader", o.leader, "epoch", o.epoch, "previous", a.lastSeen.leader,
			"previous_epoch", a.lastSeen.epoch, "revision", o.rev)
	}
	changed := o.leader != before.leader || o.epoch != before.epoch || !before.unknownSince.IsZero()
	a.know.leader, a.know.epoch, a.know.unknownSince = o.leader, o.epoch, time.Time{}
	a.lastSeen = a.know
	a.lastRecordProblem = ""
	return changed
}

// reconcile reads the backend's servers and makes the steps that bring it
// to the current goal (main loop only). trigger says why it runs: "etcd"
// (what the agent knows changed) or "periodic".
func (a *Agent) reconcile(ctx context.Context, trigger string) {
	g := decideGoal(a.know, a.now(), a.cfg.FallbackAfter.D())
	a.noteGoal(g)
	if g.kind == goalHold {
		a.finish(nil, 0)
		return
	}
	backend := a.cfg.HAProxy.Backend
	servers, err := a.lb.ServersState(ctx, backend)
	if err != nil {
		a.finish(fmt.Errorf("read servers of backend %s: %w", backend, err), 0)
		return
	}
	sessions := a.sessions(ctx, backend)
	steps, problem := plan(g, servers, sessions, a.cfg.ServerOf, a.cfg.NodeOf)
	if problem != a.lastProblem {
		if problem != "" {
			a.log.Error("cannot route to the leader", "problem", problem)
		}
		a.lastProblem = problem
	}
	n, err := a.apply(ctx, steps, trigger)
	a.finish(err, n)
}

// apply runs steps in order; a failed Gate step stops the rest. It returns
// how many changes were made and the first error.
func (a *Agent) apply(ctx context.Context, steps []step, trigger string) (int, error) {
	backend := a.cfg.HAProxy.Backend
	var first error
	changes := 0
	for _, s := range steps {
		log := a.log.With("node", s.Node, "server", backend+"/"+s.Server, "why", s.Why, "trigger", trigger)
		if s.To != "" {
			if err := a.lb.SetServerState(ctx, backend, s.Server, s.To); err != nil {
				log.Error("set server state failed", "from", s.From.String(), "to", string(s.To), "error", err)
				first = firstErr(first, err)
				if s.Gate {
					return changes, fmt.Errorf("%w (no other server changed: the leader's server must be ready first)", err)
				}
				continue
			}
			changes++
			log.Info("server state changed", "from", s.From.String(), "to", string(s.To))
		}
		if s.Shutdown {
			if err := a.lb.ShutdownSessions(ctx, backend, s.Server); err != nil {
				log.Error("shutdown sessions failed", "error", err)
				first = firstErr(first, err)
				continue
			}
			changes++
			log.Info("sessions shut down", "state", string(s.To))
		}
	}
	return changes, first
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// sessions returns each server's current sessions, or nil when the
// Balancer cannot count them or the count failed (logged at debug: the
// pass goes on without it).
func (a *Agent) sessions(ctx context.Context, backend string) map[string]int {
	sc, ok := a.lb.(SessionCounter)
	if !ok {
		return nil
	}
	stats, err := sc.ServerStats(ctx, backend)
	if err != nil {
		a.log.Debug("cannot count sessions", "backend", backend, "error", err)
		return nil
	}
	m := make(map[string]int, len(stats))
	for _, s := range stats {
		m[s.Name] = s.Sessions
	}
	return m
}

// noteGoal logs a change of goal and publishes it in the status.
func (a *Agent) noteGoal(g goal) {
	switch was := a.lastGoal.kind; {
	case g.kind == goalFallback && was != goalFallback:
		a.log.Warn("no leader known for too long: every server set ready, HAProxy's health checks decide",
			"unknown_for", g.unknownFor.Round(time.Millisecond), "fallback_after", a.cfg.FallbackAfter.D())
	case g.kind != goalFallback && was == goalFallback:
		a.log.Info("fallback over", "goal", g.String())
	}
	a.lastGoal = g
	a.setStatus(func(s *Status) {
		s.Leader, s.Epoch, s.UnknownSince = a.know.leader, a.know.epoch, a.know.unknownSince
		s.Goal, s.Fallback = g.String(), g.kind == goalFallback
	})
}

// finish records the end of a pass; a new HAProxy error is logged at warn,
// a repeated one at debug, and the recovery at info.
func (a *Agent) finish(err error, changes int) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch {
	case err != nil && msg != a.lastErr:
		a.log.Warn("reconcile failed; retrying every reconcile_interval", "interval", a.cfg.ReconcileInterval.D(), "error", err)
	case err != nil:
		a.log.Debug("reconcile failed again", "error", err)
	case a.lastErr != "":
		a.log.Info("reconcile succeeded again")
	}
	a.lastErr = msg
	a.setStatus(func(s *Status) {
		s.Reconciles++
		s.Changes += int64(changes)
		s.LastErr = err
	})
}

func (a *Agent) setStatus(f func(*Status)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.status)
}
