package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/triadmq/triad/sync/state"
)

// TestClusterWipedNodeNotElected: a member of the in-sync set that comes
// back with a wiped data directory while no leader can re-seed it is not
// complete — its own status and triadctl's say so, and it does not
// campaign — however the set lists it: the in-sync record carries the
// index each member had acknowledged. Once automatic leader changes are
// resumed a complete node leads, and every acknowledged message is there.
func TestClusterWipedNodeNotElected(t *testing.T) {
	const n = 20
	c := newCluster(t)
	c.waitInSync(2)
	leader := c.leader()
	wiped := c.others(leader)[0]

	sub := newRawClient("wiped-sub")
	if _, err := sub.connect(c.node(leader).MQTTAddr, map[string]byte{"wiped/t": 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })
	sub.disconnect(true)
	pub, _ := mustDialV311(t, "tcp://"+c.node(leader).MQTTAddr, "wiped-pub", true, nil)
	want := seqPayloads("wiped", n)
	for _, p := range want {
		pubV311(t, pub, "wiped/t", 1, false, p)
	}
	pub.Disconnect(100)
	index := c.httpStatus(leader).Applied
	waitFor(t, 30*time.Second, "the in-sync record to carry the followers' indexes (10s old)", func() bool {
		is, err := c.inSync()
		return err == nil && len(is.Members) == 2 && is.Applied[wiped] >= index
	})

	// No automatic leader change from here: the leader dies and the wiped
	// node comes back while nobody can re-seed it.
	c.mustCtl("pause")
	c.kill(leader)
	c.kill(wiped)
	if err := os.Remove(filepath.Join(c.node(wiped).DataDir, state.FileName)); err != nil {
		t.Fatal(err)
	}
	c.restart()
	st := c.waitStatus(20*time.Second, "every node publishing its status again", func(s ctlStatus) bool {
		return len(s.Nodes) == 3 && s.Leader == nil
	})
	for _, nd := range st.Nodes {
		if want := nd.Name != wiped; nd.InSync != want {
			t.Errorf("%s: in_sync %v, want %v (the in-sync set lists it; its data %s)", nd.Name, nd.InSync, want,
				map[bool]string{true: "is complete", false: "was wiped"}[want])
		}
	}

	c.mustCtl("resume")
	next, _ := c.waitLeader(20*time.Second, c.names()...)
	if next == wiped {
		t.Fatalf("the wiped node %s was elected", wiped)
	}
	if h, err := c.history(); err == nil {
		for _, e := range h {
			if e.Node == wiped {
				t.Errorf("history: the wiped node %s led epoch %d", wiped, e.Epoch)
			}
		}
	}
	if _, err := sub.connect(c.node(next).MQTTAddr, nil); err != nil {
		t.Fatal(err)
	}
	defer sub.disconnect(true)
	waitFor(t, 20*time.Second, "every acknowledged message from the new leader", func() bool {
		_, count := sub.snapshot()
		return !slices.ContainsFunc(want, func(p string) bool { return count[p] == 0 })
	})
	waitFor(t, 20*time.Second, "the wiped node back in the in-sync set", func() bool {
		is, err := c.inSync()
		return err == nil && slices.Contains(is.Members, wiped)
	})
}
