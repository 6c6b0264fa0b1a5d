package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/triadmq/triad/sync/state"
)

func TestReinit(t *testing.T) {
	e := startEtcd(t)
	e.writeCluster(t, "c") // n2 leads
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name, yaml string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	node := "node:\n  name: n3\n  data_dir: " + data + "\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:1883\n"
	cfg := write("n3.yaml", node+"cluster:\n  name: c\n  etcd:\n    endpoints: ["+e.url+"]\n")
	standalone := write("standalone.yaml", node)

	triadctl(ctxFor(t), nil, "reinit", "n3").want(t, 2, nil, []string{"run it on n3's machine with --config"})
	triadctl(ctxFor(t), nil, "--config", cfg, "reinit", "n1").want(t, 1, nil, []string{"is node n3's, not n1's"})
	triadctl(ctxFor(t), nil, "--config", standalone, "reinit", "n3").want(t, 1, nil, []string{"restore its data_dir from a backup"})
	triadctl(ctxFor(t), nil, "--config", cfg, "reinit", "n3").want(t, 0, []string{"n3 has no state file in " + data}, nil)

	s, err := state.Open(data, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	triadctl(ctxFor(t), nil, "--config", cfg, "reinit", "n3").want(t, 1, nil, []string{"state file is in use", "stop n3 first"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	triadctl(ctxFor(t), nil, "--config", cfg, "reinit", "n3").want(t, 0, []string{
		"n3's state file moved aside to " + filepath.Join(data, "state.db.corrupt-"),
		"the leader, n2, sends it a snapshot",
	}, nil)
	if _, err := os.Stat(filepath.Join(data, state.FileName)); !os.IsNotExist(err) {
		t.Fatalf("the state file is still there: %v", err)
	}
	moved, err := filepath.Glob(filepath.Join(data, "state.db.corrupt-*"))
	if err != nil || len(moved) != 1 {
		t.Fatalf("want the old file kept aside once, got %v (%v)", moved, err)
	}
}
