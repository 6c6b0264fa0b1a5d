package sync

import "github.com/prometheus/client_golang/prometheus"

// Histogram buckets, the broker's (triad_store_commit_*) for comparison.
var (
	secondsBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16) // 100 µs … 3.3 s
	entriesBuckets = prometheus.ExponentialBuckets(1, 2, 14)      // 1 … 8192
)

// newCommitHistogram is a Quorum's: observed once per advance of its
// durable index, lock-free (Observe is atomic and does not allocate).
func newCommitHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "triad_replication_commit_seconds",
		Help: "On the leader: time from an entry's append to its durability on the leader and every in-sync follower " +
			"(what a client's acknowledgement waits for); one sample, the oldest entry's, per advance of the quorum.",
		Buckets: secondsBuckets,
	})
}

// Per-follower gauges of a leader.
var (
	followerLabels     = []string{"follower"}
	descFollowerLag    = prometheus.NewDesc("triad_replication_follower_lag_entries", "On the leader: entries durable on the leader that the follower has not acknowledged.", followerLabels, nil)
	descFollowerLagSec = prometheus.NewDesc("triad_replication_follower_lag_seconds", "On the leader: age of the oldest entry durable on the leader that the follower has not acknowledged (0: caught up).", followerLabels, nil)
	descFollowerInSync = prometheus.NewDesc("triad_replication_follower_in_sync", "On the leader: 1 while the follower is in the in-sync set (acknowledgements wait for it).", followerLabels, nil)
	descFollowerConn   = prometheus.NewDesc("triad_replication_follower_connected", "On the leader: 1 while the follower has an open replication stream.", followerLabels, nil)
)

// LeaderCollector exports, while the node leads, each follower's lag and
// state and the quorum's commit latency. It reads the current Quorum at
// scrape time: a new leadership term starts a new histogram (a counter
// reset, as for the broker's metrics), and nothing is exported while the
// node does not lead.
type LeaderCollector struct {
	quorum func() *Quorum
}

// NewLeaderCollector returns a collector over quorum, which returns the
// leader's Quorum, or nil while the node does not lead.
func NewLeaderCollector(quorum func() *Quorum) *LeaderCollector {
	return &LeaderCollector{quorum: quorum}
}

// Describe implements prometheus.Collector.
func (c *LeaderCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFollowerLag
	ch <- descFollowerLagSec
	ch <- descFollowerInSync
	ch <- descFollowerConn
	newCommitHistogram().Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *LeaderCollector) Collect(ch chan<- prometheus.Metric) {
	q := c.quorum()
	if q == nil {
		return
	}
	for _, f := range q.Followers() {
		ch <- prometheus.MustNewConstMetric(descFollowerLag, prometheus.GaugeValue, float64(f.Lag), f.Name)
		ch <- prometheus.MustNewConstMetric(descFollowerLagSec, prometheus.GaugeValue, f.LagSeconds, f.Name)
		ch <- prometheus.MustNewConstMetric(descFollowerInSync, prometheus.GaugeValue, boolValue(f.InSync), f.Name)
		ch <- prometheus.MustNewConstMetric(descFollowerConn, prometheus.GaugeValue, boolValue(f.Connected), f.Name)
	}
	q.commit.Collect(ch)
}

// FollowerMetrics are a follower's replication metrics. A node keeps one
// across streams and leadership changes (Follower.Metrics); it is a
// prometheus.Collector.
type FollowerMetrics struct {
	applyBatch prometheus.Histogram
}

// NewFollowerMetrics returns empty follower metrics.
func NewFollowerMetrics() *FollowerMetrics {
	return &FollowerMetrics{applyBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "triad_replication_follower_apply_batch_entries",
		Help:    "On a follower: entries applied by one transaction (one fsync, one acknowledgement).",
		Buckets: entriesBuckets,
	})}
}

// Describe implements prometheus.Collector.
func (m *FollowerMetrics) Describe(ch chan<- *prometheus.Desc) { m.applyBatch.Describe(ch) }

// Collect implements prometheus.Collector.
func (m *FollowerMetrics) Collect(ch chan<- prometheus.Metric) { m.applyBatch.Collect(ch) }

// observeApply records one apply transaction of n entries (m may be nil).
func (m *FollowerMetrics) observeApply(n int) {
	if m != nil {
		m.applyBatch.Observe(float64(n))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
