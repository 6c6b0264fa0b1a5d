package e2e

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triadmq/triad/election"
)

// TestClusterFrozenLeaderFollowerMoves: when the leader freezes (SIGSTOP:
// its connections stay open and silent), the follower that does not take
// over leaves the frozen leader's stream for the new leader's as soon as the
// election shows it, and stays in the in-sync set. (It used to wait on the
// frozen stream for good, so the new leader held every acknowledgement for
// ack_timeout and then dropped it from the set.)
func TestClusterFrozenLeaderFollowerMoves(t *testing.T) {
	c := newCluster(t)
	c.waitInSync(2)
	old := c.leader()
	c.signal(old, syscall.SIGSTOP)
	next, _ := c.waitLeader(15*time.Second, c.others(old)...)
	third := c.others(old, next)[0]

	var st struct {
		Followers []election.FollowerStatus `json:"followers"`
	}
	waitFor(t, 10*time.Second, third+" streaming from the new leader "+next, func() bool {
		if err := c.getJSON(next, "/status", &st); err != nil {
			return false
		}
		i := slices.IndexFunc(st.Followers, func(f election.FollowerStatus) bool { return f.Name == third })
		return i >= 0 && st.Followers[i].Connected && st.Followers[i].Lag == 0
	})
	is, err := c.inSync()
	if err != nil {
		t.Fatal(err)
	}
	if is.Leader != next || !slices.Contains(is.Members, third) {
		t.Fatalf("in-sync set %+v: want %s's, with %s", is, next, third)
	}
	log, err := os.ReadFile(c.node(next).LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "follower dropped from the in-sync set") {
		t.Fatalf("the new leader %s dropped a follower:\n%s", next, lastLines(string(log), 20))
	}
	c.signal(old, syscall.SIGCONT)
}
