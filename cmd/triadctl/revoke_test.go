package main

import (
	"fmt"
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
