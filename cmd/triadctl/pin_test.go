package main

import (
	"encoding/json"
	"testing"

	"github.com/triadmq/triad/election"
)

func TestPinUnpin(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "c")
	pinned := func() string { v, _ := e.get(t, tc.keys.Pin()); return v }

	e.run(t, "c", "pin", "n1").want(t, 0, []string{"pinned n1", "a switchover n2 -> n1 is expected now"}, nil)
	if got := pinned(); got != "n1" {
		t.Fatalf("pin key %q, want n1", got)
	}
	e.run(t, "c", "pin", "n3").want(t, 0, []string{"pinned n3 (was n1)", "no switchover yet: n3 is not ready (healthy=true, in_sync=false)"}, nil)
	e.run(t, "c", "pin", "n2").want(t, 0, []string{"n2 already leads"}, nil)

	r := e.run(t, "c", "pin", "n9")
	r.want(t, 1, nil, []string{`unknown node "n9" in cluster c (live nodes: n1, n2, n3)`, "--force"})
	if got := pinned(); got != "n2" {
		t.Fatalf("pin changed to %q by a failed pin", got)
	}
	e.run(t, "c", "pin", "n9", "--force").want(t, 0, []string{"pinned n9", "n9 is not running"}, nil)
	if got := pinned(); got != "n9" {
		t.Fatalf("pin key %q, want n9", got)
	}

	e.run(t, "c", "unpin").want(t, 0, []string{"unpinned n9"}, nil)
	if _, ok := e.get(t, tc.keys.Pin()); ok {
		t.Fatal("pin key still there")
	}
	e.run(t, "c", "unpin").want(t, 0, []string{"no pin was set"}, nil)
}

func TestPauseResume(t *testing.T) {
	e := startEtcd(t)
	k := election.NewKeys("c")

	e.run(t, "c", "pause").want(t, 0, []string{"paused: no automatic leader change"}, nil)
	val, ok := e.get(t, k.Pause())
	var p election.PauseRecord
	if !ok || json.Unmarshal([]byte(val), &p) != nil || p.By != "triadctl" || p.At.IsZero() {
		t.Fatalf("pause key %q (present %v), want {at, by: triadctl}", val, ok)
	}
	e.run(t, "c", "pause").want(t, 0, []string{"already paused since", "by triadctl"}, nil)
	if again, _ := e.get(t, k.Pause()); again != val {
		t.Fatalf("second pause rewrote the key: %q -> %q", val, again)
	}
	e.run(t, "c", "status").want(t, 0, []string{"paused   YES since"}, nil)

	e.run(t, "c", "resume").want(t, 0, []string{"resumed"}, nil)
	if _, ok := e.get(t, k.Pause()); ok {
		t.Fatal("pause key still there")
	}
	e.run(t, "c", "resume").want(t, 0, []string{"not paused"}, nil)
}
