package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestThroughputRatio(t *testing.T) {
	full := modeResult{Mode: "full", loadResult: loadResult{MsgPerSec: 4000}}
	dyn := modeResult{Mode: "dynsec", loadResult: loadResult{MsgPerSec: 10000}}
	cases := []struct {
		name string
		ms   []modeResult
		want float64
		why  string
	}{
		{name: "dynsec over full", ms: []modeResult{full, dyn}, want: 2.5},
		{name: "the order of the modes does not matter", ms: []modeResult{dyn, full}, want: 2.5},
		{name: "a failed mode still gives a ratio", ms: []modeResult{full, {Mode: "dynsec", Error: "x", loadResult: loadResult{MsgPerSec: 2000}}}, want: 0.5},
		{name: "only one mode ran", ms: []modeResult{full}, why: "needs both modes"},
		{name: "full measured nothing", ms: []modeResult{{Mode: "full"}, dyn}, why: "full measured 0"},
		{name: "dynsec measured nothing", ms: []modeResult{full, {Mode: "dynsec"}}, why: "dynsec measured 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := throughputRatio(tc.ms)
			if tc.why != "" {
				if got != 0 || !strings.Contains(why, tc.why) {
					t.Fatalf("= %v, %q; want 0 and a note with %q", got, why, tc.why)
				}
				return
			}
			if why != "" || math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("= %v, %q; want %v", got, why, tc.want)
			}
		})
	}
}

func TestModeOK(t *testing.T) {
	cases := []struct {
		name string
		m    modeResult
		want bool
	}{
		{name: "everything delivered", m: modeResult{loadResult: loadResult{Acked: 10, Delivered: 10}}, want: true},
		{name: "an acknowledged message lost", m: modeResult{loadResult: loadResult{Acked: 10, Delivered: 9, Lost: 1}}},
		{name: "the load failed", m: modeResult{Error: "connect: refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.ok(); got != tc.want {
				t.Fatalf("ok() = %v; want %v", got, tc.want)
			}
		})
	}
	if (report{}).ok() {
		t.Error("a report without a mode is ok")
	}
}

func TestFailure(t *testing.T) {
	cases := []struct {
		name string
		m    modeResult
		want string
	}{
		{name: "lost at the end of a full wait", m: modeResult{loadResult: loadResult{Acked: 100, Lost: 2}},
			want: "2 acknowledged messages of 100 not delivered"},
		{name: "an error alone", m: modeResult{Error: "dynsec demo: not ready after 1m0s\n"},
			want: "dynsec demo: not ready after 1m0s"},
		{name: "lost with the wait cut short, and errors on several lines", m: modeResult{
			loadResult: loadResult{Acked: 50, Lost: 5, CutShort: true}, Error: "a\n\nb  c"},
			want: "5 acknowledged messages of 50 not delivered before the load was cut short; a; b c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure(tc.m); got != tc.want {
				t.Fatalf("failure = %q; want %q", got, tc.want)
			}
		})
	}
}

func sampleReport() report {
	throttled := 0.9
	r := report{Clients: 30, Count: 2000, Inflight: 64, Size: 256, Cores: 2, NodeCPU: 0.5,
		Budget: "0.5 CPU per node process (cgroup v1 cpu.cfs_quota_us)", ElapsedS: 61,
		Modes: []modeResult{
			{Mode: "full", loadResult: loadResult{Clients: 30, Messages: 60000, Acked: 60000, Delivered: 60000,
				MsgPerSec: 6000, P50Ms: 250, P99Ms: 612.4, MaxMs: 700},
				Nodes:   []nodeClients{{Name: "n1", Role: "leader", Connections: 30}, {Name: "n2", Role: "follower"}, {Name: "n3", Error: "GET: refused"}},
				CPU:     []procCPU{{Name: "n1", Node: true, CPUs: 0.5, Throttled: &throttled}, {Name: "clients", CPUs: 0.4}},
				Machine: &machineCPU{Busy: 1.95, Steal: 0.03, Cores: 2}, NodeMicrosPerMsg: 83},
			{Mode: "dynsec", loadResult: loadResult{Clients: 30, Messages: 60000, Acked: 60000, Delivered: 59990, Lost: 10,
				MsgPerSec: 15000, P50Ms: 9.5, P99Ms: 55.25, MaxMs: 80, CutShort: true},
				Error: "waiting for deliveries: the load's -timeout ran out (2m0s)\n3 of 30 clients  failed to publish",
				Nodes: []nodeClients{{Name: "n1", Connections: 10}, {Name: "n2", Role: "leader", Connections: 10}, {Name: "n3", Connections: 10}}},
		}}
	r.Ratio, r.RatioWhy = throughputRatio(r.Modes)
	return r
}

func TestWriteReport(t *testing.T) {
	var b strings.Builder
	if err := writeReport(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"30 loopback clients x 2000 QoS 1 msgs x 256B, inflight 64; 2 cores; node CPU budget: 0.5 CPU per node process",
		"mode   | clients | messages | acked | delivered | lost | msg/s |    p50 |    p99 |    max\n",
		"full   |      30 |    60000 | 60000 |     60000 |    0 |  6000 |  250ms |  612ms |  700ms\n",
		"dynsec |      30 |    60000 | 60000 |     59990 |   10 | 15000 | 9.50ms | 55.2ms | 80.0ms",
		"dynsec/full: 2.50x aggregate msg/s (15000 vs 6000) [dynsec FAILED]\n",
		"  full    n1 30 (leader), n2 0, n3 ? (GET: refused)\n",
		"  dynsec  n1 10, n2 10 (leader), n3 10\n",
		"  full    n1 0.50 (throttled 90%), clients 0.40; machine 1.95 of 2 CPUs busy, 0.03 stolen\n",
		"  dynsec  (not measured)\n",
		"the three nodes' CPU together per message delivered:\n  full    83 µs\n  dynsec  n/a\n",
		"dynsec FAILED: 10 acknowledged messages of 60000 not delivered before the load was cut short; " +
			"waiting for deliveries: the load's -timeout ran out (2m0s); 3 of 30 clients failed to publish\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, "full FAILED") {
		t.Error("a passing mode is reported as failed")
	}
}

func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["ratio_dynsec_full"] != 2.5 || back["node_cpu"] != 0.5 {
		t.Errorf("ratio %v node_cpu %v", back["ratio_dynsec_full"], back["node_cpu"])
	}
	modes := back["modes"].([]any)
	dyn := modes[1].(map[string]any)
	// The load's figures sit beside the mode's, not under a key of their own.
	if dyn["mode"] != "dynsec" || dyn["lost"] != 10.0 || dyn["msg_per_s"] != 15000.0 || dyn["p99_ms"] != 55.25 {
		t.Errorf("dynsec = %v", dyn)
	}
}
