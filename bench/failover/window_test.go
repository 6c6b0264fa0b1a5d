package main

import (
	"strings"
	"testing"
	"time"
)

func TestOutageWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name            string
		oks             []int // round trips, ms
		takedown, first int
		want            int
	}{
		{name: "from the last round trip before the takedown", oks: []int{0, 10, 20, 300, 310}, takedown: 25, first: 300, want: 280},
		{name: "no round trip before: from the takedown", oks: []int{200}, takedown: 0, first: 200, want: 200},
		{name: "a round trip at the takedown counts as before", oks: []int{0, 25, 300}, takedown: 25, first: 300, want: 275},
		{name: "the old leader still serving splits the gap", oks: []int{0, 10, 15, 400}, takedown: 12, first: 400, want: 385},
		{name: "the longest gap wins", oks: []int{0, 10, 500, 600}, takedown: 5, first: 600, want: 490},
		{name: "round trips after first are ignored", oks: []int{0, 100, 2000}, takedown: 50, first: 100, want: 100},
		{name: "first not among oks", oks: []int{0}, takedown: 5, first: 90, want: 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := outageWindow(at(tc.oks...), at(tc.takedown)[0], at(tc.first)[0])
			if want := time.Duration(tc.want) * time.Millisecond; got != want {
				t.Errorf("window = %v, want %v", got, want)
			}
		})
	}
}

func TestParseModes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []mode
		wantErr string
	}{
		{in: "sigterm,kill9,sigstop", want: []mode{modeSIGTERM, modeKill9, modeSIGSTOP}},
		{in: " sigstop , sigterm", want: []mode{modeSIGSTOP, modeSIGTERM}},
		{in: "kill", wantErr: `mode "kill": want sigterm, kill9, sigstop`},
		{in: "kill9,kill9", wantErr: "given twice"},
		{in: "", wantErr: `mode ""`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseModes(tc.in)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case len(got) != len(tc.want):
				t.Fatalf("got %v, want %v", got, tc.want)
			default:
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("got %v, want %v", got, tc.want)
					}
				}
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	rec := func(m mode, windowMs float64, ok bool) record {
		return record{Mode: m.String(), WindowMs: windowMs, OK: ok}
	}
	recs := []record{
		rec(modeSIGTERM, 200, true), rec(modeSIGTERM, 250, true), rec(modeSIGTERM, 310, true),
		rec(modeKill9, 400, true), rec(modeKill9, 500, true), rec(modeKill9, 0, false),
		rec(modeSIGSTOP, 2900, true), rec(modeSIGSTOP, 2950, true),
	}
	ss := summarize([]mode{modeSIGTERM, modeKill9, modeSIGSTOP}, 3, 2*time.Second, recs)
	for _, tc := range []struct {
		name      string
		s         summary
		n, failed int
		p50, p99  float64
		target    float64
		whyNotMet string
	}{
		{name: "sigterm p99 over 300ms", s: ss[0], n: 3, p50: 250, p99: 310, target: 300, whyNotMet: "p99 over target"},
		{name: "kill9 with a failed takedown", s: ss[1], n: 2, failed: 1, p50: 400, p99: 500, target: 1000, whyNotMet: "a takedown failed"},
		{name: "sigstop short of n", s: ss[2], n: 2, p50: 2900, p99: 2950, target: 3000, whyNotMet: "2 of 3 measured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			if s.N != tc.n || s.Failed != tc.failed || s.P50Ms != tc.p50 || s.P99Ms != tc.p99 || s.TargetMs != tc.target || s.Wanted != 3 {
				t.Errorf("got %+v", s)
			}
			if s.Met {
				t.Errorf("met, want not met: %s", tc.whyNotMet)
			}
		})
	}
	t.Run("met", func(t *testing.T) {
		s := summarize([]mode{modeKill9}, 2, 2*time.Second, []record{rec(modeKill9, 900, true), rec(modeKill9, 1000, true)})[0]
		if !s.Met || s.MaxMs != 1000 {
			t.Errorf("got %+v, want met with max 1000", s)
		}
	})
}

func TestWriteTable(t *testing.T) {
	ss := []summary{
		{Mode: "sigterm", N: 20, Wanted: 20, P50Ms: 221, P99Ms: 260.4, MaxMs: 260.4, TargetMs: 300, Met: true},
		{Mode: "sigstop", N: 0, Wanted: 20, Failed: 1, TargetMs: 3000},
	}
	var b strings.Builder
	if err := writeTable(&b, ss); err != nil {
		t.Fatal(err)
	}
	want := `mode    |  n |    p50 |    p99 |    max | target (p99) | met?
--------+----+--------+--------+--------+--------------+--------
sigterm | 20 | 0.221s | 0.260s | 0.260s |    <= 0.300s | met
sigstop |  0 |      - |      - |      - |    <= 3.000s | NOT MET  (0 of 20 takedowns measured, 1 failed)
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
