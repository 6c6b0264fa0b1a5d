package config

import (
	"strings"
	"testing"
)

// TestClusterMode: cluster.mode is full unless set; dynsec needs
// replication (what it replicates travels through it) and dynsec enabled;
// anything else is refused naming the value.
func TestClusterMode(t *testing.T) {
	repl := "  replication:\n    address: 10.0.0.1:7400\n    insecure: true\n"
	dynsecOn := "dynsec:\n  enabled: true\n"
	for _, c := range []struct {
		name, mode, extra, dynsec string
		want                      string // "" valid; else in the error
	}{
		{"default", "", "", "", ""},
		{"full", "  mode: full\n", "", "", ""},
		{"dynsec with replication and dynsec", "  mode: dynsec\n", repl, dynsecOn, ""},
		{"dynsec without replication", "  mode: dynsec\n", "", dynsecOn, "cluster.replication: missing: cluster.mode dynsec replicates"},
		{"dynsec without dynsec", "  mode: dynsec\n", repl, "", "dynsec.enabled: false: cluster.mode dynsec replicates"},
		{"unknown", "  mode: active\n", "", "", `cluster.mode: "active" is not one of full, dynsec`},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := clusterWith(t, "  name: prod\n", "  name: prod\n"+c.mode)
			doc = strings.Replace(doc, lastMember, lastMember+c.extra, 1) + c.dynsec
			cfg, err := Parse([]byte(doc), "triad.yaml")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v\n%s", err, doc)
			case c.want == "":
				want := "full"
				if c.mode != "" {
					want = strings.TrimSpace(strings.TrimPrefix(c.mode, "  mode:"))
				}
				if cfg.Cluster.Mode != want {
					t.Fatalf("cluster.mode = %q, want %q", cfg.Cluster.Mode, want)
				}
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
