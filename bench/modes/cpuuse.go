package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// What each process of a mode used of the CPU during its load, to tell
// which one limited the rate: a node held at its budget, HAProxy, or the
// clients (this process) on a machine with fewer cores than processes.

// clkTck is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times:
// 100 on every Linux architecture Go supports.
const clkTck = 100

// errStat: /proc/<pid>/stat is not in the expected shape.
var errStat = errors.New("unexpected /proc/<pid>/stat")

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line. The
// command name (field 2) is in parentheses and may hold spaces or
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no command name", errStat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %d fields after the command name", errStat, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 and 15: utime, stime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errStat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clkTck, nil
}

// cpuTime is the CPU time (user and system, every thread) process pid
// ("self" for this one) has used so far.
func cpuTime(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	d, err := parseStatCPU(string(b))
	if err != nil {
		return 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
	}
	return d, nil
}

// machineTimes is the machine's CPU time so far, from /proc/stat's
// first line, summed over every CPU.
type machineTimes struct {
	busy  time.Duration // user, nice, system, irq, softirq (guest time is inside user)
	steal time.Duration // taken by the hypervisor: the VM wanted to run and could not
}

// parseProcStat reads the "cpu" line of /proc/stat: user nice system
// idle iowait irq softirq steal ..., in USER_HZ ticks.
func parseProcStat(text string) (machineTimes, error) {
	line, _, _ := strings.Cut(text, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTimes{}, fmt.Errorf("%w: /proc/stat starts %q", errStat, line)
	}
	var ticks [8]int64
	for i := range ticks {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return machineTimes{}, fmt.Errorf("%w: /proc/stat: %w", errStat, err)
		}
		ticks[i] = n
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clkTck }
	return machineTimes{busy: tick(ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]), steal: tick(ticks[7])}, nil
}

// readMachine reads /proc/stat.
func readMachine() (machineTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}, fmt.Errorf("machine cpu: %w", err)
	}
	return parseProcStat(string(b))
}

// machineCPU is how busy the whole machine was during a load, in CPUs;
// its JSON names are part of the -json output.
type machineCPU struct {
	Busy  float64 `json:"busy"`  // every process and the kernel (loopback networking runs in softirq)
	Steal float64 `json:"steal"` // what the hypervisor took
	Cores int     `json:"cores"`
}

// throttleStat is what a cgroup's cpu.stat says of CFS bandwidth
// control: enforcement periods elapsed, and those in which the group
// ran out of quota and was stopped until the next one (cgroup v1 and v2
// name these two fields alike).
type throttleStat struct {
	periods, throttled int64
}

// parseCPUStat reads nr_periods and nr_throttled from a cpu.stat file's
// text; both must be there.
func parseCPUStat(text string) (throttleStat, error) {
	var st throttleStat
	found := 0
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		var p *int64
		switch {
		case !ok:
			continue
		case k == "nr_periods":
			p = &st.periods
		case k == "nr_throttled":
			p = &st.throttled
		default:
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return st, fmt.Errorf("cpu.stat %s: %w", k, err)
		}
		*p = n
		found++
	}
	if found != 2 {
		return st, errors.New("cpu.stat without nr_periods and nr_throttled")
	}
	return st, nil
}

// readThrottle reads cgroup dir's cpu.stat.
func readThrottle(dir string) (throttleStat, error) {
	b, err := os.ReadFile(dir + "/cpu.stat")
	if err != nil {
		return throttleStat{}, fmt.Errorf("throttling: %w", err)
	}
	return parseCPUStat(string(b))
}

// procCPU is one process's share of the CPU during a load; its JSON
// names are part of the -json output.
type procCPU struct {
	Name string  `json:"name"`           // a node's name, haproxy, triad-lbagent, or clients (this process)
	Node bool    `json:"node,omitempty"` // a `triad run` node
	CPUs float64 `json:"cpus"`           // CPU time used / wall time: 0.5 is half a core
	// Throttled is, for a node under a CPU budget, the share of the
	// cgroup's enforcement periods (100 ms) in which it used up its quota
	// and was stopped until the next: near 1, the budget bound it.
	Throttled *float64 `json:"throttled,omitempty"`
	Err       string   `json:"error,omitempty"`
}

// meteredProc is a process whose CPU the meter samples: its /proc name
// (a pid, or "self") and the cgroup under a CPU budget it runs in ("" for
// none).
type meteredProc struct {
	name, proc, cgroup string
	node               bool
}

// cpuMeter samples the CPU time of a set of processes, and the
// throttling of their cgroups, at the start and end of a load.
type cpuMeter struct {
	procs      []meteredProc
	start      []time.Duration
	throttle   []throttleStat
	errs       []error
	throttErr  []error
	machine    machineTimes
	machineErr error
	at         time.Time
}

// startCPUMeter samples each process now. A process that cannot be read
// is reported as such at the end; it does not stop the load.
func startCPUMeter(procs []meteredProc) *cpuMeter {
	n := len(procs)
	m := &cpuMeter{procs: procs, start: make([]time.Duration, n), throttle: make([]throttleStat, n),
		errs: make([]error, n), throttErr: make([]error, n), at: time.Now()}
	m.machine, m.machineErr = readMachine()
	for i, p := range procs {
		m.start[i], m.errs[i] = cpuTime(p.proc)
		if p.cgroup != "" {
			m.throttle[i], m.throttErr[i] = readThrottle(p.cgroup)
		}
	}
	return m
}

// stop samples again and returns each process's CPUs used since start
// and, under a budget, how often it was throttled; and the machine's
// (nil if /proc/stat could not be read).
func (m *cpuMeter) stop() ([]procCPU, *machineCPU) {
	wall := time.Since(m.at)
	var mc *machineCPU
	if end, err := readMachine(); err == nil && m.machineErr == nil {
		mc = &machineCPU{Busy: cpuShare(end.busy-m.machine.busy, wall), Steal: cpuShare(end.steal-m.machine.steal, wall), Cores: runtime.NumCPU()}
	}
	out := make([]procCPU, len(m.procs))
	for i, p := range m.procs {
		out[i].Name, out[i].Node = p.name, p.node
		end, err := cpuTime(p.proc)
		if err = errors.Join(m.errs[i], err); err != nil {
			out[i].Err = err.Error()
			continue
		}
		out[i].CPUs = cpuShare(end-m.start[i], wall)
		if p.cgroup == "" {
			continue
		}
		st, err := readThrottle(p.cgroup)
		if err = errors.Join(m.throttErr[i], err); err != nil {
			out[i].Err = err.Error()
			continue
		}
		if periods := st.periods - m.throttle[i].periods; periods > 0 {
			share := float64(st.throttled-m.throttle[i].throttled) / float64(periods)
			out[i].Throttled = &share
		}
	}
	return out, mc
}

// nodeMicrosPerMsg is what the nodes together spent of the CPU per
// message delivered, in microseconds: their CPUs over the aggregate rate.
// It is 0 when a figure is missing.
func nodeMicrosPerMsg(ps []procCPU, msgPerSec float64) float64 {
	var cpus float64
	for _, p := range ps {
		if !p.Node {
			continue
		}
		if p.Err != "" {
			return 0
		}
		cpus += p.CPUs
	}
	if cpus == 0 || msgPerSec <= 0 {
		return 0
	}
	return math.Round(cpus / msgPerSec * 1e6)
}

// cpuShare is used CPU time over wall time, rounded to 0.01.
func cpuShare(used, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return float64(int64(float64(used)/float64(wall)*100+0.5)) / 100
}
