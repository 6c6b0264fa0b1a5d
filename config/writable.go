package config

import (
	"path/filepath"
	"slices"
)

// WritablePaths lists the directories the node writes to, with defaults
// applied: the data directory, the embedded etcd member's data directory
// and the directory of the dynamic-security file. A sandboxed service
// (systemd's ProtectSystem=strict) must be allowed to write each of them.
func (c *Config) WritablePaths() []string {
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	add(c.Node.DataDir)
	if c.Cluster != nil && c.Cluster.Etcd.Embedded != nil {
		add(c.Cluster.Etcd.Embedded.DataDir)
	}
	if c.Dynsec.File != "" {
		add(filepath.Dir(c.Dynsec.File))
	}
	return out
}
