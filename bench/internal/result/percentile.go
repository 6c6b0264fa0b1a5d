package result

import (
	"math"
	"slices"
	"time"
)

// Latency summarises a set of publish-to-receipt latencies.
type Latency struct {
	P50, P99, Max time.Duration
}

// Summarize sorts lat in place and returns its median, 99th percentile and
// maximum. An empty slice gives a zero Latency.
func Summarize(lat []time.Duration) Latency {
	slices.Sort(lat)
	return Latency{
		P50: Percentile(lat, 50),
		P99: Percentile(lat, 99),
		Max: Percentile(lat, 100),
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for an empty slice; p is clamped to (0, 100].
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// Millis converts d to fractional milliseconds, the unit Result uses.
func Millis(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
