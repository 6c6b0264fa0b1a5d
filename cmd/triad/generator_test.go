package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runGenerator writes cfg to a file, runs the generator into a fresh
// directory and returns the drop-ins it wrote (file name → content).
func runGenerator(t *testing.T, cfg string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "triad.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "generator")
	var stderr bytes.Buffer
	if code := run([]string{"systemd-generator", "--config", path, out, out + ".early", out + ".late"}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := map[string]string{}
	entries, err := os.ReadDir(filepath.Join(out, "triad.service.d"))
	if os.IsNotExist(err) {
		return got
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(out, "triad.service.d", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name()] = string(b)
	}
	return got
}

func nodeConfig(dataDir, mqttAddr string) string {
	return "node:\n  name: n1\n  data_dir: " + dataDir + "\nmqtt:\n  listeners:\n    - type: tcp\n      address: " + mqttAddr + "\n"
}

func TestSystemdGenerator(t *testing.T) {
	t.Run("packaged defaults need nothing", func(t *testing.T) {
		if got := runGenerator(t, nodeConfig("/var/lib/triad", "0.0.0.0:1883")); len(got) != 0 {
			t.Errorf("drop-ins for an unprivileged config in /var/lib/triad: %v", got)
		}
	})
	t.Run("port below 1024", func(t *testing.T) {
		got := runGenerator(t, nodeConfig("/var/lib/triad/n1", "0.0.0.0:883"))
		bind, ok := got[bindDropIn]
		if !ok || len(got) != 1 {
			t.Fatalf("want only %s, got %v", bindDropIn, got)
		}
		for _, want := range []string{"mqtt.listeners[0].address 0.0.0.0:883 (port 883)", "\n[Service]\n",
			"\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"} {
			if !strings.Contains(bind, want) {
				t.Errorf("%s lacks %q:\n%s", bindDropIn, want, bind)
			}
		}
	})
	t.Run("data outside /var/lib/triad", func(t *testing.T) {
		got := runGenerator(t, nodeConfig("/srv/triad data", "0.0.0.0:1883"))
		paths, ok := got[pathsDropIn]
		if !ok || len(got) != 1 {
			t.Fatalf("want only %s, got %v", pathsDropIn, got)
		}
		if !strings.Contains(paths, "\n[Service]\nReadWritePaths=\"/srv/triad data\"\n") {
			t.Errorf("%s:\n%s", pathsDropIn, paths)
		}
	})
	t.Run("a broken config writes nothing and does not fail the boot", func(t *testing.T) {
		if got := runGenerator(t, "node: [\n"); len(got) != 0 {
			t.Errorf("drop-ins for a broken config: %v", got)
		}
	})
}
