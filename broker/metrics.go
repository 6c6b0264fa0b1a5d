package broker

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/triadmq/triad/sync/state"
)

// metrics are the broker's Prometheus collectors, on a registry of its own.
type metrics struct {
	reg             *prometheus.Registry
	messagesIn      *prometheus.CounterVec
	messagesOut     *prometheus.CounterVec
	messagesDropped *prometheus.CounterVec
	duplicatesQos2  prometheus.Counter
	pidCollisions   prometheus.Counter
	takeoverAdopted prometheus.Counter
	commitSeconds   prometheus.Histogram
	commitEntries   prometheus.Histogram
	commitOps       prometheus.Histogram
	storeFailed     prometheus.Gauge
	authFailures    prometheus.Counter
	authBlocks      prometheus.Counter
	authRefused     prometheus.Counter
	proxyRefused    *prometheus.CounterVec
	authGuard       atomic.Pointer[authGuard] // set with dynsec, read by triad_auth_blocked_sources
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triad_messages_received_total", Help: "PUBLISH packets received from clients, by QoS.",
		}, []string{"qos"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triad_messages_sent_total", Help: "PUBLISH packets written to clients, by QoS.",
		}, []string{"qos"}),
		messagesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triad_messages_dropped_total", Help: "Messages given up for a session, by reason.",
		}, []string{"reason"}),
		duplicatesQos2: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triad_qos2_duplicates_total", Help: "Retransmitted QoS 2 PUBLISH packets answered without delivering again.",
		}),
		pidCollisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triad_packet_id_collisions_total", Help: "Client packets reusing a packet id of an outbound delivery (handled).",
		}),
		takeoverAdopted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triad_takeover_deliveries_adopted_total", Help: "Messages routed to a session while a new connection was taking it over, moved to the new connection.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "triad_store_commit_seconds", Help: "Duration of one group commit (transaction and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		commitEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "triad_store_commit_batch_entries", Help: "Entries written by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		commitOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "triad_store_commit_batch_ops", Help: "State ops written by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		storeFailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "triad_store_failed", Help: "1 once the state store failed a commit; the broker stops serving.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triad_auth_failures_total", Help: "Failed authentications: unknown username, wrong or missing password, disabled client, client id not allowed.",
		}),
		authBlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triad_auth_blocks_total", Help: "Source addresses blocked for failing authentication too often (mqtt.auth_rate_limit).",
		}),
		authRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "triad_auth_blocked_connections_total", Help: "Connections refused, credentials unchecked, because their source address was blocked.",
		}),
		proxyRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "triad_proxy_refused_total", Help: "Connections refused on a listener with proxy_protocol, by reason: untrusted (a PROXY header from a peer not trusted), invalid (a malformed header), no_header (closed or silent before the header).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.messagesIn, m.messagesOut, m.messagesDropped, m.duplicatesQos2, m.pidCollisions, m.takeoverAdopted,
		m.commitSeconds, m.commitEntries, m.commitOps, m.storeFailed, m.authFailures, m.authBlocks, m.authRefused, m.proxyRefused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "triad_auth_blocked_sources", Help: "Source addresses whose connections are refused now for failing authentication too often.",
		}, func() float64 { return float64(m.authGuard.Load().blockedSources()) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeCommit(s state.CommitStats) {
	m.commitSeconds.Observe(s.Duration.Seconds())
	m.commitEntries.Observe(float64(s.Entries))
	m.commitOps.Observe(float64(s.Ops))
}

// watchServer registers gauges read from a mochi server's counters.
func (m *metrics) watchServer(srv *mqtt.Server, c *state.Committer) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("triad_connections", "Connected MQTT clients.", func() float64 {
		return float64(atomic.LoadInt64(&srv.Info.ClientsConnected))
	})
	gauge("triad_sessions", "Sessions known to the broker, connected or not.", func() float64 {
		return float64(srv.Clients.Len())
	})
	gauge("triad_subscriptions", "Subscriptions.", func() float64 {
		return float64(atomic.LoadInt64(&srv.Info.Subscriptions))
	})
	gauge("triad_retained_messages", "Retained messages.", func() float64 {
		return float64(retainedCount(srv))
	})
	gauge("triad_inflight_messages", "QoS 1/2 messages in flight or queued, all sessions.", func() float64 {
		return float64(inflightCount(srv))
	})
	gauge("triad_store_applied_index", "Index of the last durable state entry.", func() float64 {
		return float64(c.Durable())
	})
}

// watchAdmission registers the figures of the connection admission (nil:
// none, every connection is worked on at once).
func (m *metrics) watchAdmission(a *admission) {
	if a == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "triad_connects_in_progress",
			Help: "Connections admitted and not yet answered with a CONNACK (mqtt.admission.max_concurrent_connects)."},
			func() float64 { return float64(a.inProgress()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "triad_connects_waited_total",
			Help: "Connections that waited for admission (mqtt.admission)."},
			func() float64 { return float64(a.waited.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "triad_connects_slow_total",
			Help: "Admitted connections whose CONNACK took longer than the admission hold (2 s): their slot was given back without it."},
			func() float64 { return float64(a.timedOut.Load()) }))
}
