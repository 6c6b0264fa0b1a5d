// Package result holds what one loadgen run reports and the pure helpers
// around it: latency percentiles (percentile.go), and what bench/report
// prints: the comparison table (table.go), throughput ratios (ratio.go) and
// ratio floors (target.go). loadgen writes a Result as one JSON line; report
// reads those lines back.
package result

import "fmt"

// Result is the outcome of one loadgen run against one broker.
type Result struct {
	Label      string  `json:"label"`      // broker or run name given with -label
	QoS        int     `json:"qos"`        // QoS of both publishes and subscriptions
	Pairs      int     `json:"pairs"`      // publisher/subscriber pairs
	Size       int     `json:"size"`       // payload bytes
	Count      int     `json:"count"`      // messages per publisher
	Expected   int     `json:"expected"`   // Pairs * Count
	Sent       int     `json:"sent"`       // publishes completed (QoS 0: written; QoS 1/2: acknowledged)
	Received   int     `json:"received"`   // distinct messages received by the subscribers
	Duplicates int     `json:"duplicates"` // redeliveries of a message already received
	Missing    int     `json:"missing"`    // Expected - Received
	DurationS  float64 `json:"duration_s"` // first publish to last distinct receipt
	MsgPerSec  float64 `json:"msg_per_s"`  // Received / DurationS
	P50Ms      float64 `json:"p50_ms"`     // publish-to-receipt latency percentiles
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	OK         bool    `json:"ok"`              // false when the run failed or (QoS >= 1) lost messages
	Error      string  `json:"error,omitempty"` // why OK is false
}

// Scenario names the workload independently of the broker, e.g. "qos1 20x256B".
func (r Result) Scenario() string {
	return fmt.Sprintf("qos%d %dx%dB", r.QoS, r.Pairs, r.Size)
}
