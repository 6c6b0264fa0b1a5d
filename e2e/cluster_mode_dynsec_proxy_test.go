package e2e

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triadmq/triad/demo"
)

// startDynsecProxy runs HAProxy with the dynsec-mode config (every node
// in rotation, clients stuck to their node by client identifier; no
// triad-lbagent) in front of c, and waits until it routes to all three.
func (c *cluster) startDynsecProxy() *demo.Proxy {
	t := c.t
	t.Helper()
	haproxy, err := demo.FindHAProxy()
	if err != nil {
		t.Fatal(err)
	}
	p, err := demo.StartProxy(c.l, "", haproxy, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(2 * time.Second); err != nil {
			t.Errorf("stop haproxy: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	routed, err := demo.WaitProxy(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if routed != strings.Join(c.names(), ",") {
		t.Fatalf("haproxy sends clients to %s; in dynsec mode every node serves", routed)
	}
	return p
}

// holder is the one running node with a client connected (the test's
// clients connect one at a time), or "" if none or several.
func (c *cluster) holder() string {
	c.t.Helper()
	found := ""
	for _, name := range c.runningNames() {
		var st struct {
			Connections int64 `json:"connections"`
		}
		if err := c.getJSON(name, "/status", &st); err != nil {
			c.t.Fatal(err)
		}
		if st.Connections > 0 {
			if found != "" {
				return ""
			}
			found = name
		}
	}
	return found
}

// TestDynsecModeStickySessions: in dynsec mode sessions are local to a
// node, so HAProxy must send a reconnecting client back to the node that
// holds its session (stick table on the CONNECT's client identifier).
// Each reconnection through HAProxy finds its session (session present)
// and the messages queued for it on that node. When that node dies the
// client is served by another, without its session: it is lost, as
// docs/cluster-modes.md says.
func TestDynsecModeStickySessions(t *testing.T) {
	c := newDynsecModeCluster(t)
	p := c.startDynsecProxy()
	url := "tcp://" + p.Addr()

	log := newMsgLog()
	sub, present := mustDialV311(t, url, "sticky-1", false, log)
	if present {
		t.Fatal("a new session was present")
	}
	subV311(t, sub, map[string]byte{"sticky/t": 1})
	var node string
	waitFor(t, 10*time.Second, "the node holding sticky-1", func() bool { node = c.holder(); return node != "" })

	for i := range 5 {
		sub.Disconnect(100)
		// Published on the holder while the client is away: queued in its
		// session there.
		pub, _ := mustDialV311(t, "tcp://"+c.node(node).MQTTAddr, "sticky-pub", true, nil)
		pubV311(t, pub, "sticky/t", 1, false, "queued-"+string(rune('a'+i)))
		pub.Disconnect(100)
		sub, present = mustDialV311(t, url, "sticky-1", false, log)
		if !present {
			t.Fatalf("reconnection %d through HAProxy: no session present: not sent back to %s, which holds it", i+1, node)
		}
		waitFor(t, 10*time.Second, "the message queued on "+node, func() bool {
			return slices.Contains(log.payloads("sticky/t"), "queued-"+string(rune('a'+i)))
		})
		if now := c.holder(); now != node {
			t.Fatalf("reconnection %d: the client is on %q, its session on %s", i+1, now, node)
		}
	}

	c.kill(node)
	var other string
	waitFor(t, 20*time.Second, "sticky-1 served by another node", func() bool {
		cl, pres, err := dialV311(url, "sticky-1", false, nil, nil)
		if err != nil {
			return false
		}
		sub = cl
		present = pres
		return true
	})
	defer sub.Disconnect(100)
	waitFor(t, 10*time.Second, "the node now holding sticky-1", func() bool { other = c.holder(); return other != "" })
	if other == node {
		t.Fatalf("served by %s, which was killed", node)
	}
	if present {
		t.Fatalf("session present on %s after %s, which held it, died: sessions are local to a node in dynsec mode", other, node)
	}
}
