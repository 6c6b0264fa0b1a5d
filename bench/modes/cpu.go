package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The CPU budget works as bench/run.sh's BENCH_NODE_CPU does: each
// `triad run` node process goes into a cgroup of its own whose CPU quota
// is -node-cpu CPUs per period, as if each node had a VM of that size.
// On cgroup v2 that is cpu.max; on v1 the cpu controller's
// cpu.cfs_quota_us and cpu.cfs_period_us. HAProxy, the demo supervisor
// and this program's clients are left out.

const (
	cgroupRoot   = "/sys/fs/cgroup"
	cpuPeriodUs  = 100_000
	rmdirTimeout = 2 * time.Second // for a cgroup whose last process is being reaped
	rmdirPoll    = 20 * time.Millisecond
)

// cpuBudget makes and removes the run's cgroups. The zero cpus means no
// limit: limit then does nothing.
type cpuBudget struct {
	cpus  float64
	v2    bool
	base  string   // the cgroup directory made for this run
	made  []string // its children, in creation order
	unset string   // why a budget asked for is not applied ("" when it is, or none was asked)
}

// newCPUBudget prepares a budget of cpus CPUs per node process under
// root (cgroupRoot outside tests). When cpus is 0 it prepares nothing.
// When no writable cgroup CPU controller is found it returns a budget of
// 0 whose unset says why: the run goes on without a limit and says so.
func newCPUBudget(root string, cpus float64) *cpuBudget {
	if cpus == 0 {
		return &cpuBudget{}
	}
	b := &cpuBudget{cpus: cpus}
	name := fmt.Sprintf("triad-bench-modes.%d", os.Getpid())
	var err error
	if ctl, rerr := os.ReadFile(filepath.Join(root, "cgroup.controllers")); rerr == nil {
		if !slices.Contains(strings.Fields(string(ctl)), "cpu") {
			err = errors.New("cgroup v2 without the cpu controller")
		} else {
			b.v2, b.base = true, filepath.Join(root, name)
			err = b.initV2(root)
		}
	} else if _, serr := os.Stat(filepath.Join(root, "cpu", "cpu.cfs_quota_us")); serr == nil {
		b.base = filepath.Join(root, "cpu", name)
		err = os.Mkdir(b.base, 0o755)
	} else {
		err = fmt.Errorf("no cgroup v2 (%w) nor v1 cpu controller (%w) under %s", rerr, serr, root)
	}
	if err != nil {
		b.unset = fmt.Sprintf("-node-cpu %g needs a writable cgroup cpu controller (root, %s): %v", cpus, root, err)
		b.cpus = 0
		if b.base != "" {
			if rerr := os.Remove(b.base); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				b.unset += fmt.Sprintf("; and removing %s: %v", b.base, rerr)
			}
		}
		b.base = ""
	}
	return b
}

// initV2 makes the run's cgroup and turns the cpu controller on for its
// children, and for it in root's subtree_control.
func (b *cpuBudget) initV2(root string) error {
	if err := os.Mkdir(b.base, 0o755); err != nil {
		return err
	}
	for _, dir := range []string{root, b.base} {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
			return fmt.Errorf("enable cpu in %s: %w", dir, err)
		}
	}
	return nil
}

// quotaUs is the CPU time per cpuPeriodUs that cpus CPUs amount to.
func quotaUs(cpus float64) int64 {
	return int64(math.Round(cpus * cpuPeriodUs))
}

// limit moves process pid (every thread) into a new cgroup named label
// under the run's, limited to the budget, and returns that cgroup's
// directory. Without a budget it does nothing and returns "".
func (b *cpuBudget) limit(label string, pid int) (string, error) {
	if b.cpus == 0 {
		return "", nil
	}
	dir := filepath.Join(b.base, label)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("cpu budget: %w", err)
	}
	b.made = append(b.made, dir)
	q := quotaUs(b.cpus)
	files := [][2]string{{"cpu.max", fmt.Sprintf("%d %d", q, cpuPeriodUs)}}
	if !b.v2 {
		files = [][2]string{{"cpu.cfs_period_us", fmt.Sprint(cpuPeriodUs)}, {"cpu.cfs_quota_us", fmt.Sprint(q)}}
	}
	files = append(files, [2]string{"cgroup.procs", fmt.Sprint(pid)})
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o644); err != nil {
			return "", fmt.Errorf("cpu budget: %s: %w", label, err)
		}
	}
	return dir, nil
}

// remove removes the cgroups the budget made, children first. Call it
// once their processes have exited; a cgroup still busy is retried for
// rmdirTimeout.
func (b *cpuBudget) remove() error {
	if b.base == "" {
		return nil
	}
	var errs []error
	for _, dir := range append(slices.Clone(b.made), b.base) {
		if err := rmdirPatiently(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	b.made, b.base = nil, ""
	return errors.Join(errs...)
}

// rmdirPatiently removes an empty cgroup, polling while the kernel says
// it is busy (a process exiting), for at most rmdirTimeout.
func rmdirPatiently(dir string) error {
	deadline := time.Now().Add(rmdirTimeout)
	for {
		err := os.Remove(dir)
		switch {
		case err == nil || errors.Is(err, os.ErrNotExist):
			return nil
		case !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline):
			return err
		}
		<-time.After(rmdirPoll) // polling a kernel state with a deadline, not synchronising goroutines
	}
}

// String says which budget applies, for the report.
func (b *cpuBudget) String() string {
	switch {
	case b.cpus == 0 && b.unset != "":
		return "none (" + b.unset + "): the nodes share the machine"
	case b.cpus == 0:
		return "none (-node-cpu 0): the nodes share the machine"
	}
	kind := "cgroup v1 cpu.cfs_quota_us"
	if b.v2 {
		kind = "cgroup v2 cpu.max"
	}
	return fmt.Sprintf("%g CPU per node process (%s)", b.cpus, kind)
}
