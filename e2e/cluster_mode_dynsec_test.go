package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triadmq/triad/config"
)

// dynsecMode edits a demo node config into cluster.mode dynsec.
func dynsecMode(cfg string) string {
	return strings.Replace(cfg, "\ncluster:\n", "\ncluster:\n  mode: dynsec\n", 1)
}

// newDynsecModeCluster starts the demo cluster in cluster.mode dynsec and
// waits until every node is ready to take clients.
func newDynsecModeCluster(t *testing.T) *cluster {
	t.Helper()
	c := newClusterWith(t, dynsecMode)
	c.l.Mode = config.ModeDynsec // for the HAProxy config (startDynsecProxy)
	c.waitInSync(2)
	for _, name := range c.names() {
		c.waitCode(20*time.Second, name, http.MethodGet, "/ready", http.StatusOK)
	}
	return c
}

// TestDynsecModeEveryNodeServes: in cluster.mode dynsec every node takes
// clients (GET /ready 200 on all three, /leader on the leader only), a
// credential created through one node lets its client log in through the
// other two, and a client disabled through one node is kicked where it is
// connected, another node.
func TestDynsecModeEveryNodeServes(t *testing.T) {
	c := newDynsecModeCluster(t)
	leader := c.leader()
	followers := c.others(leader)
	a, b := followers[0], followers[1]
	for _, name := range c.names() {
		want := http.StatusServiceUnavailable
		if name == leader {
			want = http.StatusOK
		}
		if got := c.code(name, http.MethodGet, "/leader"); got != want {
			t.Errorf("GET /leader on %s (leader %s): %d, want %d", name, leader, got, want)
		}
		var st struct {
			Mode       string `json:"mode"`
			LocalState string `json:"local_state"`
			Ready      bool   `json:"ready"`
			Serving    bool   `json:"serving"`
		}
		if err := c.getJSON(name, "/status", &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode != "dynsec" || !st.Ready || !st.Serving || !strings.Contains(st.LocalState, "local to this node") {
			t.Errorf("/status of %s: %+v, want mode dynsec, ready, serving, and local_state saying what stays local", name, st)
		}
	}

	pw := c.l.AdminPassword
	must := func(node string, args ...string) {
		t.Helper()
		if out, errOut := ctrlAt(t, c.node(node).MQTTAddr, "admin", pw, args...); out != "" || errOut != "" {
			t.Fatalf("mosquitto_ctrl dynsec %v through %s: stdout %q stderr %q", args, node, out, errOut)
		}
	}
	// Through a follower: the leader runs it, the answer waits for it.
	must(a, "createClient", "eve", "-p", "evepass")
	for _, name := range []string{b, leader} {
		if cl, code := dialV5As(t, c.node(name).MQTTAddr, "eve-"+name, "eve", "evepass", nil); cl == nil {
			t.Fatalf("eve, created through %s, logging in through %s: CONNACK %#x", a, name, code)
		}
	}
	// Confirmed on a node means applied there: read it back at once.
	if out, _ := ctrlAt(t, c.node(a).MQTTAddr, "admin", pw, "getClient", "eve"); out != "Username: eve\nClientid:\n" {
		t.Fatalf("getClient eve through %s: %q", a, out)
	}

	must(leader, "createClient", "frank", "-p", "frankpass")
	onA := dialKickWatch(t, c.node(a).MQTTAddr, "frank-a", "frank", "frankpass")
	onLeader := dialKickWatch(t, c.node(leader).MQTTAddr, "frank-l", "frank", "frankpass")
	eveOnA := dialKickWatch(t, c.node(a).MQTTAddr, "eve-a2", "eve", "evepass")
	must(b, "disableClient", "frank")
	onA.kicked(t, "frank on "+a+", disabled through "+b)
	onLeader.kicked(t, "frank on the leader "+leader+", disabled through "+b)
	eveOnA.notKicked(t, "eve on "+a)
	for _, name := range c.names() {
		if cl, code := dialV5As(t, c.node(name).MQTTAddr, "frank-2-"+name, "frank", "frankpass", nil); cl != nil || code != 0x87 {
			t.Fatalf("frank, disabled, logging in through %s: CONNACK %#x, want 0x87", name, code)
		}
	}

	// No leader (the other two killed, etcd without quorum): a change
	// through the last node is answered with an error, and the node keeps
	// serving with the configuration it has.
	c.kill(leader)
	c.kill(b)
	out, errOut := ctrlAt(t, c.node(a).MQTTAddr, "admin", pw, "createClient", "zed", "-p", "zedpass")
	if !strings.Contains(out+errOut, "Cluster unavailable") {
		t.Fatalf("createClient with no leader: stdout %q stderr %q, want the error Cluster unavailable", out, errOut)
	}
	if cl, code := dialV5As(t, c.node(a).MQTTAddr, "eve-alone", "eve", "evepass", nil); cl == nil {
		t.Fatalf("eve on %s, alone: CONNACK %#x", a, code)
	}
}

// TestDynsecModeLeaderFailover: in dynsec mode the configuration outlives
// its leader: after a kill -9 of the leader a new one is elected with
// every confirmed change, a change made through a follower goes to the new
// leader, and both remaining nodes serve with all of them.
func TestDynsecModeLeaderFailover(t *testing.T) {
	c := newDynsecModeCluster(t)
	leader := c.leader()
	pw := c.l.AdminPassword
	must := func(node string, args ...string) {
		t.Helper()
		if out, errOut := ctrlAt(t, c.node(node).MQTTAddr, "admin", pw, args...); out != "" || errOut != "" {
			t.Fatalf("mosquitto_ctrl dynsec %v through %s: stdout %q stderr %q", args, node, out, errOut)
		}
	}
	must(c.others(leader)[0], "createClient", "before", "-p", "beforepass")
	c.kill(leader)
	next, _ := c.waitLeader(20*time.Second, c.others(leader)...)
	rest := c.others(leader)
	for _, name := range rest {
		c.waitCode(20*time.Second, name, http.MethodGet, "/ready", http.StatusOK)
	}
	follower := rest[0]
	if follower == next {
		follower = rest[1]
	}
	// Through the follower, which must now forward to the new leader.
	waitFor(t, 20*time.Second, "a change through "+follower+" accepted by the new leader "+next, func() bool {
		out, errOut := ctrlAt(t, c.node(follower).MQTTAddr, "admin", pw, "createClient", "after", "-p", "afterpass")
		// An attempt answered "unavailable" may still have been made.
		return (out == "" && errOut == "") || strings.Contains(out+errOut, "already exists")
	})
	for _, name := range rest {
		for _, u := range []string{"before", "after"} {
			if cl, code := dialV5As(t, c.node(name).MQTTAddr, u+"-"+name, u, u+"pass", nil); cl == nil {
				t.Fatalf("%s logging in through %s after the failover to %s: CONNACK %#x", u, name, next, code)
			}
		}
	}
}
