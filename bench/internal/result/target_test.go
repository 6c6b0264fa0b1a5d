package result

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTargets(t *testing.T) {
	cluster := Ratio{"triad-cluster", "triad"}
	cases := []struct {
		name    string
		in      string
		want    []Target
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"one", "qos1x20:triad-cluster/triad>=0.7", []Target{{1, 20, cluster, 0.7}}, false},
		{"two with spaces", "qos1x20:triad-cluster/triad>=0.7, qos2x5: triad-cluster/mochi >= 0.35",
			[]Target{{1, 20, cluster, 0.7}, {2, 5, Ratio{"triad-cluster", "mochi"}, 0.35}}, false},
		{"no workload", "triad-cluster/triad>=0.7", nil, true},
		{"no qos prefix", "1x20:a/b>=1", nil, true},
		{"bad qos", "qos3x20:a/b>=1", nil, true},
		{"no pairs", "qos1x:a/b>=1", nil, true},
		{"zero pairs", "qos1x0:a/b>=1", nil, true},
		{"no minimum", "qos1x20:a/b", nil, true},
		{"bad ratio", "qos1x20:ab>=1", nil, true},
		{"bad minimum", "qos1x20:a/b>=x", nil, true},
		{"zero minimum", "qos1x20:a/b>=0", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTargets(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadTarget) {
					t.Fatalf("err = %v, want ErrBadTarget", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestTargetStringRoundTrips(t *testing.T) {
	in := Target{1, 20, Ratio{"triad-cluster", "mochi"}, 0.35}
	if got := in.String(); got != "qos1x20:triad-cluster/mochi>=0.35" {
		t.Fatalf("String = %q", got)
	}
	out, err := ParseTargets(in.String())
	if err != nil || len(out) != 1 || out[0] != in {
		t.Fatalf("ParseTargets(%q) = %v, %v", in, out, err)
	}
}

func TestWriteTargets(t *testing.T) {
	q1 := func(label string, msgs float64, ok bool) Result {
		return Result{Label: label, QoS: 1, Pairs: 20, Size: 256, MsgPerSec: msgs, OK: ok}
	}
	cases := []struct {
		name      string
		rs        []Result
		target    string
		want      string
		wantUnmet int
	}{
		{"met", []Result{q1("c", 800, true), q1("t", 1000, true)}, "qos1x20:c/t>=0.7",
			"qos1 20x256B   c/t >= 0.70x: met: 0.80x msg/s (800 vs 1000)\n", 0},
		{"exactly the floor is met", []Result{q1("c", 700, true), q1("t", 1000, true)}, "qos1x20:c/t>=0.7",
			"qos1 20x256B   c/t >= 0.70x: met: 0.70x msg/s (700 vs 1000)\n", 0},
		{"below", []Result{q1("c", 300, true), q1("t", 1000, true)}, "qos1x20:c/t>=0.35",
			"qos1 20x256B   c/t >= 0.35x: NOT MET: 0.30x msg/s (300 vs 1000)\n", 1},
		{"failed numerator never meets", []Result{q1("c", 900, false), q1("t", 1000, true)}, "qos1x20:c/t>=0.7",
			"qos1 20x256B   c/t >= 0.70x: NOT MET: c FAILED, 0.90x msg/s (900 vs 1000)\n", 1},
		{"failed denominator is tagged", []Result{q1("c", 900, true), q1("t", 1000, false)}, "qos1x20:c/t>=0.7",
			"qos1 20x256B   c/t >= 0.70x: met: 0.90x msg/s (900 vs 1000) [t FAILED: its msg/s counts only what arrived]\n", 0},
		{"missing side", []Result{q1("c", 900, true)}, "qos1x20:c/t>=0.7",
			"qos1 20x256B   c/t >= 0.70x: n/a (no t result)\n", 1},
		{"no such workload", []Result{q1("c", 900, true), q1("t", 1000, true)}, "qos1x10:c/t>=0.7",
			"qos1 10x       c/t >= 0.70x: n/a (no QoS 1 run with 10 pairs)\n", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := ParseTargets(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			unmet, err := WriteTargets(&b, tc.rs, ts)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if unmet != tc.wantUnmet {
				t.Errorf("unmet = %d, want %d", unmet, tc.wantUnmet)
			}
		})
	}
}
