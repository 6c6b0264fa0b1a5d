package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestClusterDynsecSurvivesFailover checks that a confirmed dynsec change
// is the cluster's, not the leader's: a client created through the
// leader logs in through the next leader after a kill -9, a client
// disabled through it stays locked out, and every node's dynsec.file
// holds the change.
func TestClusterDynsecSurvivesFailover(t *testing.T) {
	c := newCluster(t)
	leader := c.leader()
	// Both followers in sync: from now on a confirmed change is durable on
	// them (before, the leader confirms on its own disk: no_follower).
	c.waitInSync(2)
	addr, pw := c.node(leader).MQTTAddr, c.l.AdminPassword
	must := func(addr string, args ...string) {
		t.Helper()
		if out, errOut := ctrlAt(t, addr, "admin", pw, args...); out != "" || errOut != "" {
			t.Fatalf("mosquitto_ctrl dynsec %v: stdout %q stderr %q", args, out, errOut)
		}
	}
	must(addr, "createClient", "eve", "-p", "evepass")
	must(addr, "createClient", "frank", "-p", "frankpass")
	if cl, code := dialV5As(t, addr, "frank-1", "frank", "frankpass", nil); cl == nil {
		t.Fatalf("frank before he is disabled: CONNACK %#x", code)
	}
	must(addr, "disableClient", "frank") // confirmed: durable on the quorum

	c.kill(leader)
	next, _ := c.waitLeader(20*time.Second, c.others(leader)...)
	addr = c.node(next).MQTTAddr
	if cl, code := dialV5As(t, addr, "eve-1", "eve", "evepass", nil); cl == nil {
		t.Fatalf("eve, created through %s, on the next leader %s: CONNACK %#x", leader, next, code)
	}
	if cl, code := dialV5As(t, addr, "frank-2", "frank", "frankpass", nil); cl != nil || code != 0x87 {
		t.Fatalf("frank, disabled through %s, on the next leader %s: CONNACK %#x, want 0x87", leader, next, code)
	}
	if out, _ := ctrlAt(t, addr, "admin", pw, "getClient", "frank"); out != "Username: frank\nClientid:\nDisabled: true\n" {
		t.Fatalf("getClient frank on %s: %q", next, out)
	}
	for _, name := range c.others(leader) {
		waitFor(t, 10*time.Second, name+"'s dynsec.file", func() bool {
			data, err := os.ReadFile(c.node(name).DynsecPath)
			return err == nil && strings.Contains(string(data), `"username":	"eve"`)
		})
	}
}
