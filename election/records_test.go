package election

import "testing"

func TestInSyncHolds(t *testing.T) {
	rec := &InSync{Epoch: 7, Leader: "n1", Members: []string{"n2"},
		Applied: map[string]uint64{"n1": 120, "n2": 100}}
	for _, c := range []struct {
		node    string
		applied uint64
		want    bool
	}{
		{"n1", 120, true},  // the leader that wrote it
		{"n1", 0, false},   // ... restarted with a wiped data directory
		{"n2", 100, true},  // a member at what it had acknowledged
		{"n2", 150, true},  // ... or beyond
		{"n2", 99, false},  // ... or restored from an older backup
		{"n3", 500, false}, // not a member, however far it got
	} {
		if got := rec.Holds(c.node, c.applied); got != c.want {
			t.Errorf("Holds(%s, %d) = %v, want %v", c.node, c.applied, got, c.want)
		}
	}
	old := &InSync{Epoch: 7, Leader: "n1", Members: []string{"n2"}} // written by an older version
	if !old.Holds("n2", 0) || old.Holds("n3", 0) {
		t.Error("a record without applied indexes: membership alone decides")
	}
	var none *InSync
	if !none.Holds("n3", 0) {
		t.Error("no record (no replication): every node holds all it can")
	}
}
