package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// mem is a process's memory by /proc/<pid>/status, in bytes.
type mem struct {
	RSS  int64 `json:"rss"`      // VmRSS: resident now
	Anon int64 `json:"rss_anon"` // RssAnon: heap, stacks (not bbolt's mmapped file pages)
	HWM  int64 `json:"rss_peak"` // VmHWM: the peak resident size
}

// readMem reads pid's VmRSS, RssAnon and VmHWM.
func readMem(pid int) (mem, error) {
	if pid <= 0 {
		return mem{}, fmt.Errorf("no process (pid %d)", pid)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	defer f.Close() // read-only
	var m mem
	fields := map[string]*int64{"VmRSS": &m.RSS, "RssAnon": &m.Anon, "VmHWM": &m.HWM}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		p := fields[k]
		if !ok || p == nil {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return mem{}, fmt.Errorf("/proc/%d/status %s %q: %w", pid, k, v, err)
		}
		*p = kb << 10
	}
	if err := sc.Err(); err != nil {
		return mem{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	if m.RSS == 0 {
		return mem{}, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return m, nil
}

// raiseFileLimit raises this process's RLIMIT_NOFILE to at least need
// (soft and hard), and returns the new limit. The hard limit goes up only
// when need is above it, which takes root (CAP_SYS_RESOURCE), and never
// above /proc/sys/fs/nr_open. Children (the nodes, HAProxy) inherit the
// result: Go restores its own start-up soft limit in children only until
// the program calls syscall.Setrlimit itself.
func raiseFileLimit(need uint64) (syscall.Rlimit, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim, fmt.Errorf("getrlimit NOFILE: %w", err)
	}
	want := lim
	if want.Max < need {
		want.Max = need
		if nrOpen, err := readUint("/proc/sys/fs/nr_open"); err == nil && want.Max > nrOpen {
			want.Max = nrOpen
		}
	}
	want.Cur = want.Max
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	if errors.Is(err, syscall.EPERM) && want.Max > lim.Max { // not root: the soft limit up to the hard one
		want.Max, want.Cur = lim.Max, lim.Max
		err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	}
	if err != nil {
		return lim, fmt.Errorf("setrlimit NOFILE %d: %w", want.Cur, err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return lim, fmt.Errorf("getrlimit NOFILE: %w", err)
	}
	if lim.Cur < need {
		return lim, fmt.Errorf("%w: %d (hard %d), %d needed; raising the hard limit takes CAP_SYS_RESOURCE (root outside a container, "+
			"or the container's own limit, e.g. docker --ulimit nofile=65536)", errFileLimit, lim.Cur, lim.Max, need)
	}
	return lim, nil
}

// errFileLimit: the open file limit is too low and could not be raised.
var errFileLimit = errors.New("open files limited")

// readUint reads a number from a one-line /proc file.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// listenDrops reads the kernel's TcpExt ListenOverflows and ListenDrops
// (/proc/net/netstat): connections dropped because a listener's accept
// queue was full. The counters cover the whole network namespace.
func listenDrops() (overflows, drops int64, err error) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/net/netstat: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "TcpExt:") || !strings.HasPrefix(lines[i+1], "TcpExt:") {
			continue
		}
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := 1; j < len(names) && j < len(vals); j++ {
			v, perr := strconv.ParseInt(vals[j], 10, 64)
			if perr != nil {
				continue
			}
			switch names[j] {
			case "ListenOverflows":
				overflows = v
			case "ListenDrops":
				drops = v
			}
		}
		return overflows, drops, nil
	}
	return 0, 0, errors.New("/proc/net/netstat has no TcpExt lines")
}

// loadAvg is the first three fields of /proc/loadavg, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
