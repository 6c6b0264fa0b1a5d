package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestClusterElectsOneLeader: in a fresh cluster exactly one node answers
// GET and HEAD /leader with 200 and serves MQTT; the two others answer
// /replica with 200 and refuse MQTT connections; every view of the
// cluster (each node's /status, triadctl status --json) names the same
// leader and epoch.
func TestClusterElectsOneLeader(t *testing.T) {
	c := newCluster(t)
	leader := c.leader()
	followers := c.others(leader)
	t.Logf("leader %s, followers %v", leader, followers)

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, name := range c.names() {
			wantLeader, wantReplica := http.StatusServiceUnavailable, http.StatusOK
			if name == leader {
				wantLeader, wantReplica = http.StatusOK, http.StatusServiceUnavailable
			}
			if got := c.code(name, method, "/leader"); got != wantLeader {
				t.Errorf("%s %s /leader: %d, want %d", name, method, got, wantLeader)
			}
			if got := c.code(name, method, "/replica"); got != wantReplica {
				t.Errorf("%s %s /replica: %d, want %d", name, method, got, wantReplica)
			}
		}
	}

	roundTrip(t, "tcp://"+c.node(leader).MQTTAddr, "one-leader", nil)
	for _, f := range followers {
		refused, err := dialRefused(c.node(f).MQTTAddr)
		if !refused {
			t.Errorf("follower %s: MQTT port %s: %v, want the connection refused", f, c.node(f).MQTTAddr, err)
		}
	}

	st := c.status()
	if st.leaderName() != leader {
		t.Errorf("triadctl status --json: leader %q, want %q", st.leaderName(), leader)
	}
	if st.Epoch <= 0 {
		t.Errorf("triadctl status --json: epoch %d, want > 0", st.Epoch)
	}
	if st.Cluster != clusterName {
		t.Errorf("triadctl status --json: cluster %q, want %q", st.Cluster, clusterName)
	}
	if len(st.Nodes) != 3 {
		t.Errorf("triadctl status --json: %d nodes, want 3: %+v", len(st.Nodes), st.Nodes)
	}
	for _, n := range st.Nodes {
		wantRole := "follower"
		if n.Name == leader {
			wantRole = "leader"
		}
		if n.Role != wantRole || n.Leader != (n.Name == leader) || !n.Healthy {
			t.Errorf("triadctl status --json: node %+v, want role %s, leader %v, healthy", n, wantRole, n.Name == leader)
		}
	}
	for _, name := range c.names() {
		wantRole := "follower"
		if name == leader {
			wantRole = "leader"
		}
		var hs nodeHTTPStatus
		ok := poll(5*time.Second, func() bool { // a follower learns the leader from its next look at etcd
			hs = c.httpStatus(name)
			return hs.Role == wantRole && hs.Leader == leader && hs.Epoch == st.Epoch && hs.Serving == (name == leader)
		})
		if !ok {
			t.Errorf("%s GET /status: %+v, want role %s, leader %s, epoch %d, serving %v",
				name, hs, wantRole, leader, st.Epoch, name == leader)
		}
	}
}

// failoverBound is the bound on a failover after kill -9 of the
// leader: lease TTL (2s) + 1s.
const failoverBound = clusterTTL + time.Second

// TestClusterKillLeader: three rounds of kill -9 of the leader. Each time
// another node answers /leader within TTL + 1s of the kill, with a higher
// epoch that has a history entry, and the killed node, restarted, comes
// back as a follower.
func TestClusterKillLeader(t *testing.T) {
	c := newCluster(t)
	var times []time.Duration
	for round := 1; round <= 3; round++ {
		old := c.leader()
		before := c.status()
		if before.leaderName() != old {
			t.Fatalf("round %d: triadctl status names leader %q, /leader says %s", round, before.leaderName(), old)
		}
		killedAt := c.kill(old)
		leader, seen := c.waitLeader(10*time.Second, c.others(old)...)
		took := seen.Sub(killedAt)
		times = append(times, took)
		t.Logf("round %d: killed leader %s (epoch %d); %s answered /leader 200 after %v",
			round, old, before.Epoch, leader, took.Round(time.Millisecond))
		if took > failoverBound {
			t.Errorf("round %d: failover took %v, want at most %v (lease TTL + 1s)", round, took.Round(time.Millisecond), failoverBound)
		}

		after := c.waitStatus(5*time.Second, "the new leader "+leader, func(s ctlStatus) bool { return s.leaderName() == leader })
		if after.Epoch <= before.Epoch {
			t.Errorf("round %d: epoch %d after the failover, want more than %d", round, after.Epoch, before.Epoch)
		}
		if hs := c.httpStatus(leader); hs.Epoch != after.Epoch || hs.Role != "leader" {
			t.Errorf("round %d: %s GET /status %+v, want role leader, epoch %d", round, leader, hs, after.Epoch)
		}
		if ok, h, err := c.historyHas(5*time.Second, after.Epoch, leader); !ok {
			t.Errorf("round %d: triadctl history --json has no entry for epoch %d (%s) within 5s: %+v (last error: %v)", round, after.Epoch, leader, h, err)
		} else {
			// elected_at: when it held the leader key, after the kill and
			// before it served (and so before it wrote the entry).
			e := h[slices.IndexFunc(h, func(e historyEntry) bool { return e.Epoch == after.Epoch })]
			if e.ElectedAt.Before(killedAt) || e.ElectedAt.After(e.Time) || e.ElectedAt.After(seen) {
				t.Errorf("round %d: history entry %+v: elected_at not between the kill (%v) and /leader 200 (%v) and at most time",
					round, e, killedAt, seen)
			}
		}

		c.restart()
		c.waitCode(10*time.Second, old, http.MethodGet, "/replica", http.StatusOK)
		if got := c.code(old, http.MethodGet, "/leader"); got != http.StatusServiceUnavailable {
			t.Errorf("round %d: restarted %s answers /leader %d, want 503", round, old, got)
		}
		if now := c.leader(); now != leader {
			t.Errorf("round %d: after %s's restart %s leads, want %s to keep leading", round, old, now, leader)
		}
		c.waitStatus(10*time.Second, old+" back as a follower", func(s ctlStatus) bool {
			n, ok := s.node(old)
			return len(s.Nodes) == 3 && ok && n.Role == "follower" && n.Healthy
		})
	}
	t.Logf("failover times after kill -9 of the leader: %v (bound %v)", times, failoverBound)
}
