package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A real line's shape: pid (comm) state ppid ... utime stime ...
	line := func(comm string) string {
		return "4242 (" + comm + ") S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 75 0 0 20 0 12 0 100 2000000 3000 18446744073709551615\n"
	}
	cases := []struct {
		name string
		stat string
		want time.Duration
		bad  bool
	}{
		{name: "utime plus stime in 1/100 s", stat: line("triad"), want: 3250 * time.Millisecond},
		{name: "a command name with spaces and parentheses", stat: line("a (b) c"), want: 3250 * time.Millisecond},
		{name: "no command name", stat: "4242 triad S 1", bad: true},
		{name: "too few fields", stat: "4242 (triad) S 1 2 3", bad: true},
		{name: "a time that is not a number", stat: strings.Replace(line("triad"), " 250 ", " x ", 1), bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU(tc.stat)
			if tc.bad {
				if !errors.Is(err, errStat) {
					t.Fatalf("= %v, %v; want errStat", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	if _, err := cpuTime("self"); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	cg := t.TempDir()
	writeFile(t, cg+"/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 5\n")
	m := startCPUMeter([]meteredProc{{name: "clients", proc: "self", cgroup: cg}, {name: "gone", proc: "999999999"}})
	writeFile(t, cg+"/cpu.stat", "nr_periods 30\nnr_throttled 7\nthrottled_time 9\n")
	got, machine := m.stop()
	if machine == nil || machine.Busy < 0 || machine.Cores < 1 {
		t.Errorf("machine = %+v", machine)
	}
	if th := got[0].Throttled; th == nil || *th != 0.25 {
		t.Errorf("throttled = %v; want 5 of 20 periods", th)
	}
	if got[0].Name != "clients" || got[0].Err != "" || got[0].CPUs < 0 {
		t.Errorf("self = %+v", got[0])
	}
	if got[1].Err == "" {
		t.Errorf("a missing process has no error: %+v", got[1])
	}
}

func TestCPUShare(t *testing.T) {
	for _, tc := range []struct {
		used, wall time.Duration
		want       float64
	}{
		{500 * time.Millisecond, time.Second, 0.5},
		{3 * time.Second, 2 * time.Second, 1.5},
		{1234 * time.Millisecond, 10 * time.Second, 0.12},
		{time.Second, 0, 0},
	} {
		if got := cpuShare(tc.used, tc.wall); got != tc.want {
			t.Errorf("cpuShare(%v, %v) = %v; want %v", tc.used, tc.wall, got, tc.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	got, err := parseProcStat("cpu  300 10 100 5000 40 0 90 25 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	// busy: user 300 + nice 10 + system 100 + irq 0 + softirq 90 = 500 ticks; steal 25.
	if err != nil || got.busy != 5*time.Second || got.steal != 250*time.Millisecond {
		t.Errorf("= %+v, %v; want busy 5s steal 250ms", got, err)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8"} {
		if _, err := parseProcStat(bad); !errors.Is(err, errStat) {
			t.Errorf("parseProcStat(%q) = %v; want errStat", bad, err)
		}
	}
}

func TestParseCPUStat(t *testing.T) {
	v1 := "nr_periods 400\nnr_throttled 120\nthrottled_time 987654321\nnr_bursts 0\n"
	v2 := "usage_usec 1\nuser_usec 1\nsystem_usec 0\nnr_periods 50\nnr_throttled 0\nthrottled_usec 0\n"
	if got, err := parseCPUStat(v1); err != nil || got != (throttleStat{400, 120}) {
		t.Errorf("v1 = %+v, %v", got, err)
	}
	if got, err := parseCPUStat(v2); err != nil || got != (throttleStat{50, 0}) {
		t.Errorf("v2 = %+v, %v", got, err)
	}
	if _, err := parseCPUStat("usage_usec 5\n"); err == nil {
		t.Error("a cpu.stat without bandwidth control parsed")
	}
	if _, err := parseCPUStat("nr_periods x\nnr_throttled 1\n"); err == nil {
		t.Error("a bad number parsed")
	}
}

func TestCPULine(t *testing.T) {
	th := 0.426
	got := cpuLine([]procCPU{{Name: "n1", CPUs: 0.5, Throttled: &th}, {Name: "haproxy", CPUs: 0.31}, {Name: "n2", Err: "gone"}})
	if want := "n1 0.50 (throttled 43%), haproxy 0.31, n2 ? (gone)"; got != want {
		t.Errorf("cpuLine = %q; want %q", got, want)
	}
	if got := cpuLine(nil); got != "(not measured)" {
		t.Errorf("cpuLine(nil) = %q", got)
	}
}

func TestNodeMicrosPerMsg(t *testing.T) {
	full := []procCPU{{Name: "n1", Node: true, CPUs: 0.16}, {Name: "n2", Node: true, CPUs: 0.5}, {Name: "n3", Node: true, CPUs: 0.16},
		{Name: "haproxy", CPUs: 0.2}, {Name: "clients", CPUs: 0.6}}
	cases := []struct {
		name string
		ps   []procCPU
		rate float64
		want float64
	}{
		{name: "the nodes alone count", ps: full, rate: 8200, want: 100},
		{name: "no rate", ps: full, rate: 0, want: 0},
		{name: "a node not measured", ps: append([]procCPU{{Name: "n4", Node: true, Err: "gone"}}, full...), rate: 8200, want: 0},
		{name: "no node", ps: []procCPU{{Name: "clients", CPUs: 1}}, rate: 8200, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := nodeMicrosPerMsg(tc.ps, tc.rate); got != tc.want {
				t.Fatalf("= %v; want %v", got, tc.want)
			}
		})
	}
}
