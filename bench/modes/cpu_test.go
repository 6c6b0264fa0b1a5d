package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestQuotaUs(t *testing.T) {
	for cpus, want := range map[float64]int64{0.5: 50000, 1: 100000, 0.01: 1000, 1.75: 175000, 0.333: 33300} {
		if got := quotaUs(cpus); got != want {
			t.Errorf("quotaUs(%g) = %d; want %d", cpus, got, want)
		}
	}
}

// The cgroup file systems are faked with plain directories: what the
// budget writes can be read back, though no kernel enforces it (and a
// plain directory holding files cannot be rmdir'ed as a cgroup can, so
// remove is not tested here).
func TestCPUBudgetV1(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "cpu", "cpu.cfs_quota_us"), "-1")
	b := newCPUBudget(root, 0.5)
	if b.unset != "" || b.v2 || b.cpus != 0.5 {
		t.Fatalf("budget = %+v", b)
	}
	dir, err := b.limit("full-n1", 4242)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(b.base, "full-n1") {
		t.Errorf("limit made %s", dir)
	}
	if filepath.Dir(b.base) != filepath.Join(root, "cpu") {
		t.Errorf("base %s not under the cpu controller", b.base)
	}
	for file, want := range map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000", "cgroup.procs": "4242"} {
		if got := readFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q; want %q", file, got, want)
		}
	}
	if got := b.String(); got != "0.5 CPU per node process (cgroup v1 cpu.cfs_quota_us)" {
		t.Errorf("String() = %q", got)
	}
}

func TestCPUBudgetV2(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "cgroup.controllers"), "cpuset cpu io memory pids\n")
	b := newCPUBudget(root, 0.25)
	if b.unset != "" || !b.v2 {
		t.Fatalf("budget = %+v", b)
	}
	if got := readFile(t, filepath.Join(root, "cgroup.subtree_control")); got != "+cpu" {
		t.Errorf("root subtree_control = %q", got)
	}
	if got := readFile(t, filepath.Join(b.base, "cgroup.subtree_control")); got != "+cpu" {
		t.Errorf("base subtree_control = %q", got)
	}
	if _, err := b.limit("dynsec-n2", 77); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(b.base, "dynsec-n2", "cpu.max")); got != "25000 100000" {
		t.Errorf("cpu.max = %q", got)
	}
	if got := readFile(t, filepath.Join(b.base, "dynsec-n2", "cgroup.procs")); got != "77" {
		t.Errorf("cgroup.procs = %q", got)
	}
}

func TestCPUBudgetUnavailable(t *testing.T) {
	t.Run("no controller: no budget, and why", func(t *testing.T) {
		root := t.TempDir()
		b := newCPUBudget(root, 0.5)
		if b.cpus != 0 || b.base != "" || !strings.Contains(b.unset, "-node-cpu 0.5 needs a writable cgroup cpu controller") {
			t.Fatalf("budget = %+v", b)
		}
		if dir, err := b.limit("full-n1", 1); dir != "" || err != nil {
			t.Errorf("limit without a budget = %q, %v", dir, err)
		}
		if !strings.HasPrefix(b.String(), "none (-node-cpu 0.5 needs") {
			t.Errorf("String() = %q", b.String())
		}
		if err := b.remove(); err != nil {
			t.Errorf("remove = %v", err)
		}
	})
	t.Run("v2 without the cpu controller", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "cgroup.controllers"), "memory pids\n")
		if b := newCPUBudget(root, 0.5); b.cpus != 0 || !strings.Contains(b.unset, "without the cpu controller") {
			t.Fatalf("budget = %+v", b)
		}
	})
	t.Run("none asked", func(t *testing.T) {
		b := newCPUBudget(t.TempDir(), 0)
		if b.cpus != 0 || b.unset != "" || b.String() != "none (-node-cpu 0): the nodes share the machine" {
			t.Fatalf("budget = %+v, %q", b, b.String())
		}
	})
}
