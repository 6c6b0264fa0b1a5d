package lbagent

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triadmq/triad/internal/etcdtest"
)

// startRealAgent runs an agent with its own Runtime and etcd client, as
// triad-lbagent does, against h.
func startRealAgent(t *testing.T, url string, h *haproxyProc, fallback time.Duration) *runningAgent {
	t.Helper()
	return startAgent(t, testConfig(url, h.Sock, fallback), nil)
}

// TestAgentWithHAProxy: real etcd, real haproxy. The agent follows leader
// changes, repairs a restarted haproxy and hand-made changes, keeps the
// last leader through an etcd outage (restoring it even into an haproxy
// restarted meanwhile) and follows the leader elected during the outage
// once etcd is back.
func TestAgentWithHAProxy(t *testing.T) {
	srv := etcdtest.Start(t)
	link := newLink(t, strings.TrimPrefix(srv.URL, "http://"))
	h := startHAProxy(t, "triad", servers("n1", "n2", "n3"), false)
	a := startRealAgent(t, link.url(), h, 0)

	a.waitPasses(t, 3)
	if got, err := h.admins("triad"); err != nil || got != "n1=ready n2=ready n3=ready" {
		t.Fatalf("without a leader: %q, %v; want nothing changed", got, err)
	}

	lease := campaign(t, srv.Client, "n1")
	h.waitAdmins("triad", "n1=ready n2=maint n3=maint", 10*time.Second)

	lease = switchLeader(t, srv.Client, lease, "n2")
	h.waitAdmins("triad", "n1=maint n2=ready n3=maint", 10*time.Second)

	// haproxy restarted: its runtime states are gone, every server ready.
	changes := a.Status().Changes
	h.Restart()
	h.waitAdmins("triad", "n1=maint n2=ready n3=maint", 10*time.Second)
	// The agent counts a change once its commands are done, which may be
	// just after haproxy shows their effect.
	waitFor(t, "the agent to count its repair of the restarted haproxy", 5*time.Second, func() bool {
		return a.Status().Changes > changes
	})

	// A hand-made change.
	if err := h.rt.SetServerState(context.Background(), "triad", "n3", AdminReady); err != nil {
		t.Fatal(err)
	}
	h.waitAdmins("triad", "n1=maint n2=ready n3=maint", 10*time.Second)

	// etcd out of reach: nothing changes, however long.
	link.cut()
	waitFor(t, "etcd outage noticed", 10*time.Second, func() bool { return a.Status().EtcdErr != nil })
	a.waitPasses(t, 5)
	if got, err := h.admins("triad"); err != nil || got != "n1=maint n2=ready n3=maint" {
		t.Fatalf("during the etcd outage: %q, %v; want nothing changed", got, err)
	}
	if st := a.Status(); st.Leader != "n2" || st.Fallback {
		t.Fatalf("status during the outage %+v; want leader n2 kept, no fallback", st)
	}
	// ... the last leader is restored into a restarted haproxy ...
	h.Restart()
	h.waitAdmins("triad", "n1=maint n2=ready n3=maint", 10*time.Second)
	// ... and a leader elected meanwhile is followed once etcd is back.
	switchLeader(t, srv.Client, lease, "n3")
	link.restore()
	h.waitAdmins("triad", "n1=maint n2=maint n3=ready", 15*time.Second)
	waitFor(t, "etcd back", 10*time.Second, func() bool { return a.Status().EtcdErr == nil })
}

// TestAgentRestartAndSideBySide: an agent started while a leader is set
// converges; a leader change while no agent runs is picked up by the next
// one; two haproxy+agent pairs follow the same cluster independently.
func TestAgentRestartAndSideBySide(t *testing.T) {
	srv := etcdtest.Start(t)
	lease := campaign(t, srv.Client, "n1")
	h1 := startHAProxy(t, "triad", servers("n1", "n2", "n3"), false)
	h2 := startHAProxy(t, "triad", servers("n1", "n2", "n3"), false)

	a1 := startRealAgent(t, srv.URL, h1, 0)
	h1.waitAdmins("triad", "n1=ready n2=maint n3=maint", 10*time.Second)
	a1.stop() // changes nothing on its way out
	if got, err := h1.admins("triad"); err != nil || got != "n1=ready n2=maint n3=maint" {
		t.Fatalf("after the agent stopped: %q, %v", got, err)
	}

	lease = switchLeader(t, srv.Client, lease, "n3")
	startRealAgent(t, srv.URL, h1, 0)
	startRealAgent(t, srv.URL, h2, 0)
	h1.waitAdmins("triad", "n1=maint n2=maint n3=ready", 10*time.Second)
	h2.waitAdmins("triad", "n1=maint n2=maint n3=ready", 10*time.Second)

	// One haproxy down: the other pair carries on, and the downed one is
	// brought up to date by its agent when it returns.
	h2.Kill()
	switchLeader(t, srv.Client, lease, "n2")
	h1.waitAdmins("triad", "n1=maint n2=ready n3=maint", 10*time.Second)
	h2.Start()
	h2.waitAdmins("triad", "n1=maint n2=ready n3=maint", 10*time.Second)
}

// tcpLink forwards 127.0.0.1 connections to target until cut: a way to
// take etcd away from the agent and give it back, as a partition does.
type tcpLink struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newLink(t *testing.T, target string) *tcpLink {
	t.Helper()
	k := &tcpLink{t: t, target: target, conns: map[net.Conn]struct{}{}}
	k.listen("127.0.0.1:0")
	t.Cleanup(func() {
		k.cut()
		k.wg.Wait()
	})
	return k
}

func (k *tcpLink) url() string { return "http://" + k.addr }

func (k *tcpLink) listen(addr string) {
	k.t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		k.t.Fatalf("link listen %s: %v", addr, err)
	}
	k.mu.Lock()
	k.l, k.addr = l, l.Addr().String()
	k.mu.Unlock()
	k.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			k.wg.Go(func() { k.forward(c) })
		}
	})
}

func (k *tcpLink) forward(c net.Conn) {
	up, err := net.Dial("tcp", k.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !k.track(c, up) {
		return
	}
	var pipes sync.WaitGroup
	pipes.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
	pipes.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
	pipes.Wait()
	k.mu.Lock()
	delete(k.conns, c)
	delete(k.conns, up)
	k.mu.Unlock()
}

// track registers a forwarded pair, or closes it if the link is cut.
func (k *tcpLink) track(c, up net.Conn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.l == nil {
		_, _ = c.Close(), up.Close()
		return false
	}
	k.conns[c], k.conns[up] = struct{}{}, struct{}{}
	return true
}

// cut closes the listener and every forwarded connection.
func (k *tcpLink) cut() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.l != nil {
		_ = k.l.Close()
		k.l = nil
	}
	for c := range k.conns {
		_ = c.Close()
	}
}

// restore listens again on the same address.
func (k *tcpLink) restore() { k.listen(k.addr) }
