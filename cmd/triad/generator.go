package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/internal/fsutil"
)

// The packaged triad.service runs with no capabilities and a read-only
// file system but for /var/lib/triad. `triad systemd-generator` is a
// systemd generator (installed as /usr/lib/systemd/system-generators/
// triad-generator, run at boot and by `systemctl daemon-reload`): it reads
// the node's configuration and writes drop-ins that grant what that
// configuration needs, and nothing else:
//
//   - CAP_NET_BIND_SERVICE when it binds a port below 1024;
//   - ReadWritePaths for data directories outside /var/lib/triad.
//
// A generator must not fail the boot: a configuration it cannot read gets
// a message on stderr (the journal) and no drop-in; the service's
// ExecStartPre (triad check-config) then reports the problem.

const (
	defaultConfigPath = "/etc/triad/triad.yaml"
	packagedDataDir   = "/var/lib/triad"
	generatedUnit     = "triad.service"
	bindDropIn        = "50-net-bind-service.conf"
	pathsDropIn       = "50-writable-paths.conf"
)

func cmdSystemdGenerator(args []string, stderr io.Writer) int {
	cfgPath := defaultConfigPath
	if len(args) >= 2 && args[0] == "--config" {
		cfgPath, args = args[1], args[2:]
	}
	if len(args) != 1 && len(args) != 3 {
		fmt.Fprintf(stderr, "usage: triad systemd-generator [--config FILE] NORMAL_DIR [EARLY_DIR LATE_DIR]\n")
		return 2
	}
	dir := filepath.Join(args[0], generatedUnit+".d")
	drops, err := generatorDropIns(cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "triad-generator: %v; no drop-in written (triad.service reports it when it starts)\n", err)
		return 0
	}
	for name, body := range drops {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(stderr, "triad-generator: %v\n", err)
			return 1
		}
		if err := fsutil.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			fmt.Fprintf(stderr, "triad-generator: %v\n", err)
			return 1
		}
	}
	return 0
}

// generatorDropIns returns the drop-ins (file name → content) that the
// configuration at path needs.
func generatorDropIns(path string) (map[string]string, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if ports := cfg.PrivilegedPorts(); len(ports) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "# Written by triad-generator: %s binds ports below 1024:\n", path)
		for _, p := range ports {
			fmt.Fprintf(&b, "#   %s\n", p)
		}
		b.WriteString("[Service]\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n")
		out[bindDropIn] = b.String()
	}
	var extra []string
	for _, p := range cfg.WritablePaths() {
		if p != packagedDataDir && !strings.HasPrefix(p, packagedDataDir+"/") {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "# Written by triad-generator: %s writes outside %s.\n[Service]\n", path, packagedDataDir)
		for _, p := range extra {
			fmt.Fprintf(&b, "ReadWritePaths=%s\n", systemdEscapePath(p))
		}
		out[pathsDropIn] = b.String()
	}
	return out, nil
}

// systemdEscapePath quotes a path for a unit file setting if it holds
// characters systemd would split or expand.
func systemdEscapePath(p string) string {
	if !strings.ContainsAny(p, " \t\"'\\%$") {
		return p
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(p) + `"`
}
