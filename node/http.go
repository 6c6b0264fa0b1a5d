package node

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/sync"
	"github.com/triadmq/triad/version"
)

// Status is the JSON of GET /status.
type Status struct {
	Node          string            `json:"node"`
	Cluster       string            `json:"cluster,omitempty"`
	Role          election.Role     `json:"role"`
	Epoch         int64             `json:"epoch,omitempty"`
	Leader        string            `json:"leader,omitempty"`
	Version       string            `json:"version"`
	Healthy       bool              `json:"healthy"`
	Serving       bool              `json:"serving"` // serving MQTT clients: listeners open and, for a full-mode leader, its fence valid
	UptimeSeconds int64             `json:"uptime_seconds"`
	Listeners     map[string]string `json:"listeners"`
	// Followers is a replicating leader's report on each follower's
	// stream (lag in seconds rounded to 0.1 s, as in its status record).
	Followers []election.FollowerStatus `json:"followers,omitempty"`
	// StoreError is why a follower's last write to its store failed (disk
	// full, I/O error), while it does; the node is not healthy meanwhile.
	StoreError string `json:"store_error,omitempty"`
	// Mode is cluster.mode (full or dynsec). In dynsec mode every node
	// serves its own clients: LocalState says what is not replicated, and
	// ReplicatedIndex is the applied index of the replicated
	// dynamic-security log (applied_index is the node's own store's).
	Mode            string `json:"mode,omitempty"`
	LocalState      string `json:"local_state,omitempty"`
	ReplicatedIndex uint64 `json:"replicated_index,omitempty"`
	// Ready is what GET /ready answers: the node may take clients.
	Ready bool `json:"ready"`
	broker.Status
}

// handler serves the read-only endpoints; GET patterns answer HEAD too.
// None of them changes anything.
//
//	/health   200 while the process is sound (store, etcd member, not stopping)
//	/leader   200 only while this node leads with a valid lease and serves MQTT
//	/ready    200 while this node may take clients in the cluster's mode:
//	          the leader in full mode (as /leader), any node serving with
//	          the cluster's current configuration in dynsec mode
//	/replica  200 on a healthy cluster follower
//	/status   JSON
//	/metrics  Prometheus
func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", n.probe(n.healthy))
	mux.HandleFunc("GET /leader", n.probe(n.isLeader))
	mux.HandleFunc("GET /ready", n.probe(n.isReady))
	mux.HandleFunc("GET /replica", n.probe(n.isReplica))
	mux.HandleFunc("GET /status", n.handleStatus)
	mux.HandleFunc("GET /metrics", n.handleMetrics)
	mux.HandleFunc("GET /state/digest", n.handleDigest)
	return mux
}

// setStoreErr records how a follower's last write to its store went (see
// storeErr), logging the change.
func (n *Node) setStoreErr(err error) {
	n.mu.Lock()
	was := n.storeErr
	n.storeErr = err
	n.mu.Unlock()
	switch {
	case err != nil && was == nil:
		n.log.Error("cannot write the replicated state: this node is unhealthy until a write succeeds (is the disk full?)", "error", err)
	case err == nil && was != nil:
		n.log.Info("the replicated state is written again; healthy", "was", was)
	}
}

func (n *Node) storeError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.storeErr
}

func (n *Node) healthy() bool {
	if n.stopping.Load() || n.storeError() != nil {
		return false
	}
	// Not Status(): it walks every session, and a health check must answer
	// at once even while thousands of clients reconnect.
	if b := n.broker(); b != nil && b.StoreFailed() {
		return false
	}
	return n.cfg.Cluster == nil || n.broker() != nil || n.el != nil
}

// isLeader: a standalone node serving, or a cluster leader whose fence is
// valid and whose listeners are open.
func (n *Node) isLeader() bool {
	if !n.healthy() || n.broker() == nil {
		return false
	}
	return n.el == nil || (n.el.Role() == election.RoleLeader && n.el.Fence().Valid())
}

// isReplica: a healthy cluster follower in touch with etcd.
func (n *Node) isReplica() bool {
	return n.el != nil && n.healthy() && n.el.Connected() && n.el.Role() != election.RoleLeader &&
		(n.broker() == nil || n.dm != nil) // in dynsec mode every node serves
}

// isReady: the node may take clients. Outside dynsec mode, only the
// leader (or a standalone node) serves: isLeader. In dynsec mode a node
// serving MQTT may, while its dynamic-security configuration is the
// cluster's: it leads, or it is in touch with etcd and in the leader's
// in-sync set (a follower the leader no longer hears from is dropped
// from the set within ack_timeout, and then refuses to be ready).
func (n *Node) isReady() bool {
	if n.dm == nil {
		return n.isLeader()
	}
	if !n.healthy() || n.broker() == nil {
		return false
	}
	if n.el.Role() == election.RoleLeader {
		return n.el.Fence().Valid()
	}
	is := n.el.InSyncSet()
	return n.el.Connected() && is != nil && slices.Contains(is.Members, n.cfg.Node.Name)
}

// role is the node's role as its endpoints report it. A leader whose
// fence has lapsed (its lease may have expired: it was frozen, or cut off
// from etcd) serves nothing and is about to step down: it is reported as
// a follower from the moment the fence lapses, not from the moment its
// elector gets round to stepping down (a resumed frozen node answered
// /status as leader of its old epoch for a few milliseconds).
func (n *Node) role() election.Role {
	switch {
	case n.stopping.Load():
		return election.RoleStopping
	case n.el == nil:
		return election.RoleStandalone
	}
	r := n.el.Role()
	if r == election.RoleLeader && !n.el.Fence().Valid() {
		return election.RoleFollower
	}
	return r
}

// serving says whether the node serves MQTT clients now: its broker runs
// and, for a full-mode cluster leader, its fence is valid (a fenced
// leader's listeners are still open, but nothing is read or written).
func (n *Node) serving() bool {
	if n.broker() == nil {
		return false
	}
	return n.el == nil || n.dm != nil || n.el.Fence().Valid()
}

// probe answers 200 "ok" when cond holds, else 503.
func (n *Node) probe(cond func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		code, body := http.StatusOK, "ok\n"
		if !cond() {
			code, body = http.StatusServiceUnavailable, "unavailable: role "+string(n.role())+"\n"
		}
		w.WriteHeader(code)
		if r.Method == http.MethodHead {
			return
		}
		if _, err := w.Write([]byte(body)); err != nil {
			n.log.Debug("write probe answer", "path", r.URL.Path, "error", err)
		}
	}
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := Status{
		Node:          n.cfg.Node.Name,
		Role:          n.role(),
		Version:       version.Version,
		Healthy:       n.healthy(),
		UptimeSeconds: int64(time.Since(n.started) / time.Second),
		Listeners:     n.MQTTAddrs(),
	}
	if n.cfg.Cluster != nil {
		st.Cluster = n.cfg.Cluster.Name
	}
	if err := n.storeError(); err != nil {
		st.StoreError = err.Error()
	}
	if n.el != nil {
		st.Epoch, st.Leader = n.el.Epoch(), n.el.Leader()
	}
	st.Ready = n.isReady()
	if n.cfg.Cluster != nil {
		st.Mode = n.cfg.Cluster.Mode
	}
	if n.dm != nil {
		st.LocalState = "sessions, subscriptions, queued and in-flight messages and retained messages are local to this node: only dynamic security is replicated"
		st.ReplicatedIndex = n.local().Applied
	}
	if b := n.broker(); b != nil {
		st.Status, st.Serving = b.Status(), n.serving()
		st.Followers = n.repl.followerStatus()
	} else {
		n.mu.Lock()
		st.AppliedIndex = n.applied
		n.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		n.log.Debug("write /status", "error", err)
	}
}

// nodeMetrics are the node's own collectors (the broker's come and go
// with leadership).
type nodeMetrics struct {
	reg      *prometheus.Registry
	follower *sync.FollowerMetrics // kept across streams and terms
}

func newNodeMetrics() *nodeMetrics {
	return &nodeMetrics{reg: prometheus.NewRegistry(), follower: sync.NewFollowerMetrics()}
}

func (n *Node) registerNodeMetrics() {
	n.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "triad_leader",
			Help: "1 while this node serves MQTT as leader (or standalone), else 0."},
			func() float64 {
				if n.isLeader() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "triad_epoch",
			Help: "The epoch this node leads or last saw (0 standalone)."},
			func() float64 {
				if n.el == nil {
					return 0
				}
				return float64(n.el.Epoch())
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "triad_lease_renewals_late_total",
			Help: "Lease renewals that landed with less than a quarter of the lease TTL left: client reads were paused until they did (a leader too busy to renew its lease)."},
			func() float64 {
				if n.el == nil {
					return 0
				}
				return float64(n.el.LateRenewals())
			}),
	)
}

// registerReplicationMetrics adds the replication gauges of a node with
// cluster.replication.
func (n *Node) registerReplicationMetrics() {
	gauge := func(name, help string, f func() float64) {
		n.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("triad_replication_in_sync_followers", "Followers in the in-sync set (on the leader).", func() float64 {
		if q := n.repl.leaderQuorum(); q != nil {
			return float64(len(q.InSync()))
		}
		return 0
	})
	gauge("triad_replication_degraded", "1 while this leader acknowledges with no follower in sync (no_follower: continue) or holds acknowledgements (block).", func() float64 {
		if q := n.repl.leaderQuorum(); q != nil && len(q.InSync()) == 0 {
			return 1
		}
		return 0
	})
	gauge("triad_replication_lag_entries", "On the leader: entries the slowest in-sync follower has not acknowledged.", func() float64 {
		q := n.repl.leaderQuorum()
		if q == nil {
			return 0
		}
		return float64(q.Lag())
	})
	gauge("triad_replication_lag_seconds", "On the leader: age of the oldest entry an in-sync follower has not acknowledged (the largest over the in-sync set).", func() float64 {
		q := n.repl.leaderQuorum()
		if q == nil {
			return 0
		}
		return q.LagSeconds()
	})
	gauge("triad_state_applied_index", "Applied index of this node's state (leader or follower).", func() float64 {
		return float64(n.local().Applied)
	})
	// Per-follower gauges and the commit latency while leading; the
	// follower's apply batches while following.
	n.metrics.reg.MustRegister(sync.NewLeaderCollector(n.repl.leaderQuorum), n.metrics.follower)
}

func (n *Node) handleMetrics(w http.ResponseWriter, r *http.Request) {
	g := prometheus.Gatherers{n.metrics.reg}
	if b := n.broker(); b != nil {
		g = append(g, b.Gatherer())
	}
	promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
