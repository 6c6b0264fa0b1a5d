package demo

import (
	"os"
	"strings"
	"testing"

	"github.com/triadmq/triad/config"
)

// TestPlanModeDynsec: --mode dynsec writes node configs in cluster.mode
// dynsec (valid, with the replication and dynsec they need), the
// manifest says the mode, and a directory holding a cluster of the other
// mode is refused.
func TestPlanModeDynsec(t *testing.T) {
	dir := t.TempDir()
	l, err := PlanMode(dir, 21883, "demo-1", config.ModeDynsec)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Dynsec() {
		t.Fatal("layout not in dynsec mode")
	}
	for _, n := range l.Nodes {
		cfg, err := config.Load(n.ConfigPath)
		if err != nil {
			t.Fatalf("%s: config.Load: %v", n.Name, err)
		}
		if cfg.Cluster.Mode != config.ModeDynsec || cfg.Cluster.Replication == nil || !cfg.Dynsec.Enabled {
			t.Fatalf("%s: cluster %+v dynsec %+v, want mode dynsec with replication and dynsec", n.Name, cfg.Cluster, cfg.Dynsec)
		}
	}
	if err := WriteManifest(l.ManifestPath(), l.manifest(1, nil)); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(l.ManifestPath())
	if err != nil || m.Mode != config.ModeDynsec {
		t.Fatalf("manifest mode %q (%v), want dynsec", m.Mode, err)
	}
	if err := os.MkdirAll(l.Nodes[0].DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(dir, 21883, "demo-1"); err == nil || !strings.Contains(err.Error(), "made with --mode dynsec") {
		t.Fatalf("full mode on a dynsec directory with data: %v, want a refusal naming the mode", err)
	}
	if _, err := PlanMode(dir, 21883, "demo-1", config.ModeDynsec); err != nil {
		t.Fatalf("the same mode again: %v", err)
	}
	if _, err := PlanMode(t.TempDir(), 21883, "demo-1", "active"); err == nil || !strings.Contains(err.Error(), `"active"`) {
		t.Fatalf("mode active: %v, want a refusal naming it", err)
	}
}
