package e2e

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cleanHandoverBound is how soon a follower must lead after SIGTERM of the
// leader: it hands over and revokes its lease, so nobody waits for a TTL.
const cleanHandoverBound = time.Second

// TestClusterSwitchoverPinPause drives one cluster through the operator's
// commands: a switchover to a named node; a pin that moves leadership to
// the pinned node, gives way to another node while the pinned node is
// dead and comes back to it when it returns; pause, during which a dead
// leader is not replaced, and resume, after which one is; and finally a
// SIGTERM of the leader, which hands over at once and exits 0.
func TestClusterSwitchoverPinPause(t *testing.T) {
	c := newCluster(t)
	c.waitInSync(2) // a switchover target must be in sync

	// switchover --to X
	l0 := c.leader()
	before := c.status()
	x := c.others(l0)[0]
	r := c.ctl("switchover", "--to", x, "--timeout", "10s")
	t.Logf("switchover %s -> %s: exit %d after %v: %s", l0, x, r.code, r.took.Round(time.Millisecond), strings.TrimSpace(r.stdout))
	if r.code != 0 {
		t.Fatalf("switchover: %v", r)
	}
	if want := l0 + " -> " + x; !strings.Contains(r.stdout, want) {
		t.Errorf("switchover printed %q, want it to say %q", r.stdout, want)
	}
	c.waitLeaderIs(5*time.Second, x)
	if st := c.status(); st.leaderName() != x || st.Epoch <= before.Epoch {
		t.Errorf("after the switchover: leader %q epoch %d, want %s with an epoch above %d", st.leaderName(), st.Epoch, x, before.Epoch)
	}
	c.waitCode(5*time.Second, l0, http.MethodGet, "/replica", http.StatusOK)

	// pin Y: Y leads.
	y := c.others(l0, x)[0]
	r = c.mustCtl("pin", y)
	if !strings.Contains(r.stdout, "pinned "+y) {
		t.Errorf("pin printed %q, want \"pinned %s\"", r.stdout, y)
	}
	c.waitLeaderIs(10*time.Second, y)
	c.waitStatus(5*time.Second, "pin "+y+" honoured", func(s ctlStatus) bool {
		return s.pinName() == y && s.PinHonoured && s.leaderName() == y
	})

	// kill -9 Y: availability wins, and status says the pin does not hold.
	killedAt := c.kill(y)
	z, seen := c.waitLeader(10*time.Second, c.others(y)...)
	t.Logf("pinned leader %s killed: %s leads after %v", y, z, seen.Sub(killedAt).Round(time.Millisecond))
	st := c.waitStatus(5*time.Second, z+" leading", func(s ctlStatus) bool { return s.leaderName() == z })
	if st.pinName() != y || st.PinHonoured {
		t.Errorf("while pinned %s is dead and %s leads: pin %q pin_honoured %v, want pin %s, pin_honoured false", y, z, st.pinName(), st.PinHonoured, y)
	}

	// Y comes back: leadership returns to it.
	c.restart()
	returnedAt := time.Now()
	c.waitLeaderIs(30*time.Second, y)
	t.Logf("pinned %s restarted: leads again after %v", y, time.Since(returnedAt).Round(time.Millisecond))
	c.waitStatus(5*time.Second, "pin "+y+" honoured again", func(s ctlStatus) bool { return s.pinName() == y && s.PinHonoured })

	// unpin
	r = c.mustCtl("unpin")
	if !strings.Contains(r.stdout, "unpinned "+y) {
		t.Errorf("unpin printed %q, want \"unpinned %s\"", r.stdout, y)
	}
	if st := c.status(); st.Pin != nil || !st.PinHonoured || st.leaderName() != y {
		t.Errorf("after unpin: pin %q pin_honoured %v leader %q, want no pin, honoured, %s still leading", st.pinName(), st.PinHonoured, st.leaderName(), y)
	}

	c.checkPause(y)

	// SIGTERM of the leader: a clean hand-over, then exit 0.
	c.restart()
	c.waitSettled(15 * time.Second)
	l3 := c.leader()
	termAt := time.Now()
	c.signal(l3, syscall.SIGTERM)
	l4, seen := c.waitLeader(5*time.Second, c.others(l3)...)
	took := seen.Sub(termAt)
	t.Logf("SIGTERM to leader %s: %s leads after %v (clean hand-over)", l3, l4, took.Round(time.Millisecond))
	if took > cleanHandoverBound {
		t.Errorf("after SIGTERM of leader %s, %s led only after %v, want at most %v", l3, l4, took.Round(time.Millisecond), cleanHandoverBound)
	}
	waitFor(t, 15*time.Second, l3+" to exit after SIGTERM", func() bool { return !c.s.Running(l3) })
	if st := c.s.ExitStatus(l3); st != "exit status 0" {
		t.Errorf("%s after SIGTERM: %s, want exit status 0", l3, st)
	}
}

// checkPause pauses the cluster, kills its leader (which must be leader),
// checks that no node takes over while paused, then resumes and waits for
// a new leader. leader stays dead.
func (c *cluster) checkPause(leader string) {
	t := c.t
	r := c.mustCtl("pause")
	if !strings.Contains(r.stdout, "paused") {
		t.Errorf("pause printed %q", r.stdout)
	}
	if st := c.status(); !st.Paused {
		t.Fatalf("after pause: status says paused false")
	}
	killedAt := c.kill(leader)
	live := c.others(leader)
	gone := c.waitStatus(10*time.Second, "the dead leader's key expired", func(s ctlStatus) bool { return s.Leader == nil })
	t.Logf("paused; leader %s killed; its leader key gone after %v", leader, time.Since(killedAt).Round(time.Millisecond))
	if !gone.Paused {
		t.Errorf("status while paused says paused false")
	}
	window := 3 * clusterTTL
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		if ls := c.leaders(live); len(ls) > 0 {
			t.Errorf("paused, but %v answered /leader 200 %v after %s was killed", ls, time.Since(killedAt).Round(time.Millisecond), leader)
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	if st := c.status(); st.Leader != nil {
		t.Errorf("paused, but %s took the leader key (epoch %d)", st.leaderName(), st.Epoch)
	}

	r = c.mustCtl("resume")
	if !strings.Contains(r.stdout, "resumed") {
		t.Errorf("resume printed %q", r.stdout)
	}
	resumedAt := time.Now()
	l, seen := c.waitLeader(10*time.Second, live...)
	t.Logf("resumed: %s leads after %v", l, seen.Sub(resumedAt).Round(time.Millisecond))
	if st := c.status(); st.Paused {
		t.Errorf("after resume: status says paused")
	}
}
