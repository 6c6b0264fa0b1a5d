package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterRollingUpgrade runs two replication protocol versions side
// by side with real processes: this release (protocol 2, supports 1..2)
// and a build one version newer (3, supports 2..3). Upgrading one node at
// a time, a newer follower follows the older leader, a newer leader leads
// an older follower, and the upgraded cluster speaks 3. A build too new
// for the others (5, supports 4..5) is refused with a clear message on
// both sides and leaves the in-sync set. No acknowledged message is lost
// along the way.
func TestClusterRollingUpgrade(t *testing.T) {
	c := newCluster(t)
	c.waitInSync(2)
	leader := c.leader()
	followers := c.others(leader)

	sub := newRawClient("upgrade-sub")
	if _, err := sub.connect(c.node(leader).MQTTAddr, map[string]byte{"upgrade/t": 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })
	sub.disconnect(true)
	var want []string
	publish := func(step string) {
		t.Helper()
		pub, _ := mustDialV311(t, "tcp://"+c.node(c.leader()).MQTTAddr, "upgrade-pub", true, nil)
		defer pub.Disconnect(100)
		for i := range 5 {
			p := fmt.Sprintf("%s-%d", step, i)
			pubV311(t, pub, "upgrade/t", 1, false, p)
			want = append(want, p)
		}
	}
	// Log lines count from the last restart on: every node's log size then.
	marks := map[string]int{}
	mark := func() {
		for _, n := range c.names() {
			marks[n] = logSize(t, c.node(n).LogPath)
		}
	}
	// streamed waits until leader's log shows follower streaming at
	// protocol, since the last mark.
	streamed := func(leader, follower string, protocol int) {
		t.Helper()
		waitFor(t, 20*time.Second, fmt.Sprintf("%s streaming from %s at protocol %d", follower, leader, protocol), func() bool {
			return logHas(t, c.node(leader).LogPath, marks[leader], `msg="follower streaming"`, "follower="+follower+" ", fmt.Sprintf("protocol=%d", protocol))
		})
	}
	restartWith := func(name, bin string) {
		t.Helper()
		c.signal(name, syscall.SIGTERM)
		waitFor(t, 20*time.Second, name+" to stop", func() bool { return !c.s.Running(name) })
		c.s.UseBinary(name, bin)
		mark()
		c.restart()
	}

	publish("before")
	restartWith(followers[0], triadNextBin)
	streamed(leader, followers[0], 2) // newer follows older
	publish("next-follows-old")
	restartWith(followers[1], triadNextBin)
	streamed(leader, followers[1], 2)
	c.waitInSync(2)

	mark()
	c.mustCtl("switchover", "--to", followers[0])
	c.waitLeaderIs(20*time.Second, followers[0])
	streamed(followers[0], leader, 2)       // newer leads older
	streamed(followers[0], followers[1], 3) // two newer ones speak the newer protocol
	publish("next-leads-old")
	restartWith(leader, triadNextBin)
	streamed(followers[0], leader, 3)
	c.waitInSync(2)
	publish("upgraded")

	far := followers[1]
	restartWith(far, triadFarBin)
	waitFor(t, 20*time.Second, "the leader refusing the too-new node", func() bool {
		return logHas(t, c.node(followers[0]).LogPath, marks[followers[0]], "replication refused: incompatible protocol version", "follower="+far+" ")
	})
	waitFor(t, 20*time.Second, "the too-new node saying why it cannot follow", func() bool {
		return logHas(t, c.node(far).LogPath, marks[far], "replication protocol 5 (supports 4..5)", "upgrade one release at a time")
	})
	publish("far-refused") // waits out the ack timeout: the refused node leaves the in-sync set
	waitFor(t, 20*time.Second, "the in-sync set without the refused node", func() bool {
		is, err := c.inSync()
		return err == nil && !slices.Contains(is.Members, far)
	})

	if _, err := sub.connect(c.node(c.leader()).MQTTAddr, nil); err != nil {
		t.Fatal(err)
	}
	defer sub.disconnect(true)
	waitFor(t, 20*time.Second, "every acknowledged message", func() bool {
		_, count := sub.snapshot()
		return !slices.ContainsFunc(want, func(p string) bool { return count[p] == 0 })
	})
}

// logSize is the size of the file at path.
func logSize(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Size())
}

// logHas reports whether a line of the file at path, from byte from on,
// contains every one of parts.
func logHas(t *testing.T, path string, from int, parts ...string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b[min(from, len(b)):]), "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return true
		}
	}
	return false
}
