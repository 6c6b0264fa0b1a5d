package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/triadmq/triad/sync/state"
)

// TestClusterFollowerWipedCatchesUp: a follower whose state file is lost
// rejoins, receives a snapshot while the leader keeps serving, is in sync
// again, and after a switchover to it serves every queued message and the
// retained message.
func TestClusterFollowerWipedCatchesUp(t *testing.T) {
	const n = 30
	c := newCluster(t)
	c.waitInSync(2)
	leader := c.leader()
	sub := newRawClient("wipe-sub")
	if _, err := sub.connect(c.node(leader).MQTTAddr, map[string]byte{"wipe/t": 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })
	sub.disconnect(true)
	pub, _ := mustDialV311(t, "tcp://"+c.node(leader).MQTTAddr, "wipe-pub", true, nil)
	want := seqPayloads("w", n)
	for _, p := range want[:n/2] {
		pubV311(t, pub, "wipe/t", 1, false, p)
	}
	pubV311(t, pub, "wipe/retained", 1, true, "kept")

	f := c.others(leader)[0]
	c.kill(f)
	if err := os.Remove(filepath.Join(c.node(f).DataDir, state.FileName)); err != nil {
		t.Fatal(err)
	}
	for _, p := range want[n/2:] { // the leader keeps serving meanwhile
		pubV311(t, pub, "wipe/t", 1, false, p)
	}
	pub.Disconnect(100)
	c.restart()
	c.waitInSync(2)

	r := c.mustCtl("switchover", "--to", f)
	t.Logf("%s", r.stdout)
	c.waitLeaderIs(10*time.Second, f)
	if _, err := sub.connect(c.node(f).MQTTAddr, nil); err != nil {
		t.Fatal(err)
	}
	defer sub.disconnect(true)
	waitFor(t, 20*time.Second, "every queued message from the rebuilt follower", func() bool {
		_, count := sub.snapshot()
		for _, p := range want {
			if count[p] == 0 {
				return false
			}
		}
		return true
	})
	got, _ := sub.snapshot()
	checkDelivered(t, "after catch-up and switchover", got, want, true)
	log := newMsgLog()
	fresh, _ := mustDialV311(t, "tcp://"+c.node(f).MQTTAddr, "wipe-fresh", true, log)
	defer fresh.Disconnect(100)
	subV311(t, fresh, map[string]byte{"wipe/retained": 1})
	waitFor(t, 10*time.Second, "the retained message", func() bool { return contains(log.payloads("wipe/retained"), "kept") })
}
