package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestRevoke(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")

	e.run(t, "c", "revoke", "n2").want(t, 0, []string{
		fmt.Sprintf("revoked lease %x of n2: removed its status and leadership (epoch %d)\n", int64(tc.leases["n2"]), tc.epoch),
	}, nil)
	if _, ok := e.get(t, tc.keys.Leader()); ok {
		t.Error("leader key still there")
	}
	if _, ok := e.get(t, tc.keys.Node("n2")); ok {
		t.Error("nodes/n2 still there")
	}
	for _, n := range []string{"n1", "n3"} {
		if _, ok := e.get(t, tc.keys.Node(n)); !ok {
			t.Errorf("nodes/%s was removed too", n)
		}
	}

	e.run(t, "c", "revoke", "n2").want(t, 0, []string{"nothing to revoke: n2 holds no lease in cluster c"}, nil)
	e.run(t, "c", "revoke", "n3").want(t, 0, []string{"revoked lease", "of n3: removed its status\n"}, nil)
	e.run(t, "c", "revoke").want(t, 2, nil, []string{"revoke: missing NODE argument"})
}

// TestRevokeSelf: without NODE, revoke takes the node from --config (as
// the packaged triad.service's ExecStopPost runs it).
func TestRevokeSelf(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	dir := t.TempDir()
	write := func(name, yaml string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	node := "node:\n  name: n2\n  data_dir: /var/lib/triad\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:1883\n"
	clustered := write("n2.yaml", node+"cluster:\n  name: c\n  etcd:\n    endpoints: ["+e.url+"]\n")
	standalone := write("standalone.yaml", node)

	r := triadctl(ctxFor(t), nil, "--config", clustered, "revoke")
	r.want(t, 0, []string{fmt.Sprintf("revoked lease %x of n2", int64(tc.leases["n2"]))}, nil)
	if _, ok := e.get(t, tc.keys.Node("n2")); ok {
		t.Error("nodes/n2 still there")
	}
	if _, ok := e.get(t, tc.keys.Node("n1")); !ok {
		t.Error("nodes/n1 was removed too")
	}
	triadctl(ctxFor(t), nil, "--config", standalone, "revoke").
		want(t, 0, []string{"nothing to revoke: " + standalone + " is a standalone node's configuration"}, nil)
	triadctl(ctxFor(t), nil, "--config", filepath.Join(dir, "missing.yaml"), "revoke").
		want(t, 1, nil, []string{"--config:"})
}
