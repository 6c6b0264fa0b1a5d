package result

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty is zero", nil, 50, 0},
		{"single value is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"median of even count takes lower rank", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p100 is max", hundred, 100, 100 * time.Millisecond},
		{"p99 of few values is max", ms(1, 2, 3), 99, 3 * time.Millisecond},
		{"p above 100 clamps to max", ms(1, 2, 3), 150, 3 * time.Millisecond},
		{"p of zero clamps to min", ms(1, 2, 3), 0, 1 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(p=%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeSortsInPlace(t *testing.T) {
	lat := []time.Duration{5, 1, 4, 2, 3}
	got := Summarize(lat)
	want := Latency{P50: 3, P99: 5, Max: 5}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	for i := 1; i < len(lat); i++ {
		if lat[i-1] > lat[i] {
			t.Fatalf("not sorted in place: %v", lat)
		}
	}
}
