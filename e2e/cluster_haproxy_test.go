package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/triadmq/triad/demo"
)

// The cluster behind HAProxy and triad-lbagent, as `triad demo` runs it
// (demo.StartProxy): clients know one address, HAProxy's, and find the
// leader through it across failovers.

var (
	lbagentOnce sync.Once
	lbagentBin  string
	lbagentErr  error
)

// lbagentBinary builds cmd/triad-lbagent with -race, once, beside the
// triad binary TestMain built (so TestMain's cleanup removes it).
func lbagentBinary(t *testing.T) string {
	t.Helper()
	lbagentOnce.Do(func() {
		bin := filepath.Join(filepath.Dir(triadBin), demo.LBAgentBinary)
		out, err := exec.Command("go", "build", "-race", "-o", bin, "github.com/triadmq/triad/cmd/triad-lbagent").CombinedOutput()
		if err != nil {
			lbagentErr = fmt.Errorf("go build triad-lbagent: %w\n%s", err, out)
			return
		}
		lbagentBin = bin
	})
	if lbagentErr != nil {
		t.Fatal(lbagentErr)
	}
	return lbagentBin
}

// startProxy runs HAProxy and triad-lbagent in front of c and waits until
// HAProxy sends clients to the leader alone. On cleanup it stops them,
// fails the test if the agent's log holds a race report, and prints the
// end of both logs if the test failed.
func (c *cluster) startProxy() *demo.Proxy {
	t := c.t
	t.Helper()
	if testing.Short() {
		t.Skip("runs haproxy and triad-lbagent")
	}
	haproxy, err := demo.FindHAProxy()
	if err != nil {
		t.Fatal(err)
	}
	p, err := demo.StartProxy(c.l, lbagentBinary(t), haproxy, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(2 * time.Second); err != nil {
			t.Errorf("stop haproxy and triad-lbagent: %v", err)
		}
		for _, path := range []string{c.l.Proxy.AgentLogPath, c.l.Proxy.LogPath} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			if text := string(data); strings.Contains(text, "WARNING: DATA RACE") {
				t.Errorf("the race detector reported a data race in %s:\n%s", path, text)
			} else if t.Failed() {
				t.Logf("the end of %s:\n%s", path, lastLines(text, 40))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	routed, err := demo.WaitProxy(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if leader := c.leader(); routed != leader {
		t.Fatalf("haproxy sends clients to %s; %s leads", routed, leader)
	}
	return p
}

// proxySub is a persistent subscriber (rawClient) kept connected to one
// address: whenever its connection ends it reconnects, and its session
// must still be there.
type proxySub struct {
	c    *rawClient
	addr string

	mu         sync.Mutex
	reconnects []time.Time // when each reconnection succeeded
	err        error       // why it gave up, or a session found missing
}

// subscribeThroughProxy connects a rawClient called id to addr with a
// persistent session and subscribes it to hap/q1 at QoS 1 and hap/q2 at
// QoS 2.
func subscribeThroughProxy(t *testing.T, id, addr string) *proxySub {
	t.Helper()
	s := &proxySub{c: newRawClient(id), addr: addr}
	if _, err := s.c.connect(addr, map[string]byte{"hap/q1": 1, "hap/q2": 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, id+" SUBACK", func() bool { return s.c.subacked() == 1 })
	return s
}

// stayConnected reconnects s every time its connection ends, trying every
// 50ms for at most 30s each time, until stop is closed.
func (s *proxySub) stayConnected(stop <-chan struct{}) {
	for {
		s.c.mu.Lock()
		ended := s.c.readErr
		s.c.mu.Unlock()
		select {
		case <-stop:
			return
		case <-ended:
		}
		s.c.mu.Lock()
		conn := s.c.conn
		s.c.conn = nil
		s.c.mu.Unlock()
		if conn != nil {
			conn.Close() // its read loop has ended; the broker is gone
		}
		if !s.reconnect(stop) {
			return
		}
	}
}

func (s *proxySub) reconnect(stop <-chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for {
		present, err := s.c.connect(s.addr, nil)
		if err == nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.reconnects = append(s.reconnects, time.Now())
			if !present && s.err == nil {
				s.err = fmt.Errorf("%s: reconnected through haproxy at %s without its session", s.c.id, time.Now().Format(time.StampMilli))
			}
			return true
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.err = fmt.Errorf("%s: no reconnection through haproxy for 30s: %w", s.c.id, err)
			return false
		}
		select {
		case <-stop:
			return false
		case <-time.After(50 * time.Millisecond): // retry interval
		}
	}
}

// reconnectedAfter is the first successful reconnection after at.
func (s *proxySub) reconnectedAfter(at time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.reconnects {
		if r.After(at) {
			return r, true
		}
	}
	return time.Time{}, false
}

func (s *proxySub) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// proxyPub publishes QoS 1 and QoS 2 messages in turn to hap/q1 and
// hap/q2 through one address, one at a time, every few milliseconds,
// logging each acknowledged one; when a publish fails it dials the same
// address again (every 50ms) and goes on with the next message.
type proxyPub struct {
	id    string
	addr  string
	acked *ackLog

	mu    sync.Mutex
	conns []pubConn // every connection, in order
}

// pubConn is one connection of a publisher: when its dial began and when
// its first publish was acknowledged (zero if none was).
type pubConn struct {
	dialed, firstAck time.Time
}

const (
	pubInterval = 5 * time.Millisecond // between two publishes of one publisher (load shaping)
	pubMaxRun   = 5 * time.Minute      // bound on a publisher's loop
)

// run publishes until stop is closed; it returns an error if it was still
// running after pubMaxRun.
func (p *proxyPub) run(stop <-chan struct{}) error {
	var c paho.Client
	defer func() {
		if c != nil {
			c.Disconnect(0)
		}
	}()
	tick := time.NewTicker(pubInterval)
	defer tick.Stop()
	deadline := time.Now().Add(pubMaxRun)
	for seq := 0; time.Now().Before(deadline); {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		if c == nil {
			dialed := time.Now()
			cl, _, err := dialV311("tcp://"+p.addr, p.id, true, nil, nil)
			if err != nil {
				continue // no leader behind haproxy yet: try again at the next tick
			}
			c = cl
			p.mu.Lock()
			p.conns = append(p.conns, pubConn{dialed: dialed})
			p.mu.Unlock()
		}
		qos := byte(1 + seq%2)
		topic, payload := fmt.Sprintf("hap/q%d", qos), fmt.Sprintf("%s-q%d-%06d", p.id, qos, seq)
		seq++
		tok := c.Publish(topic, qos, false, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			c.Disconnect(0)
			c = nil
			continue
		}
		p.acked.add(topic, payload)
		p.mu.Lock()
		if last := &p.conns[len(p.conns)-1]; last.firstAck.IsZero() {
			last.firstAck = time.Now()
		}
		p.mu.Unlock()
	}
	return fmt.Errorf("publisher %s still running after %v", p.id, pubMaxRun)
}

// firstAckAfter is the first acknowledgement on a connection dialled
// after at: a publish that went through haproxy to a leader alive after at.
func (p *proxyPub) firstAckAfter(at time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.dialed.After(at) && !c.firstAck.IsZero() {
			return c.firstAck, true
		}
	}
	return time.Time{}, false
}

// routesTo reports whether p's haproxy sends new clients to server alone.
func routesTo(p *demo.Proxy, server string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	routes, err := p.Routes(ctx)
	return err == nil && slices.Equal(routes, []string{server})
}

// TestClusterHAProxyFailover: persistent subscribers (QoS 1 and QoS 2)
// and publishers know one address, HAProxy's, with triad-lbagent beside
// it. The leader is killed with -9 twice (the killed node restarted and
// back in sync in between); each time the clients reconnect to the same
// address and go on. In the end every acknowledged message has reached
// every subscriber, QoS 2 exactly once.
func TestClusterHAProxyFailover(t *testing.T) {
	c := newCluster(t)
	c.waitInSync(2)
	px := c.startProxy()
	addr := px.Addr()

	subs := []*proxySub{subscribeThroughProxy(t, "hap-sub-a", addr), subscribeThroughProxy(t, "hap-sub-b", addr)}
	stopSubs := make(chan struct{})
	var subsDone sync.WaitGroup
	for _, s := range subs {
		subsDone.Go(func() { s.stayConnected(stopSubs) })
	}
	defer func() {
		select {
		case <-stopSubs:
		default:
			close(stopSubs)
		}
		subsDone.Wait()
		for _, s := range subs {
			s.c.disconnect(true)
		}
	}()

	acked := &ackLog{acks: map[string][]string{}}
	pubs := []*proxyPub{{id: "hap-pub-a", addr: addr, acked: acked}, {id: "hap-pub-b", addr: addr, acked: acked}}
	stopPubs := make(chan struct{})
	pubErrs := make(chan error, len(pubs))
	for _, p := range pubs {
		go func() { pubErrs <- p.run(stopPubs) }()
	}
	stopPublishers := func() {
		close(stopPubs)
		for range pubs {
			if err := <-pubErrs; err != nil {
				t.Error(err)
			}
		}
	}
	total := func() int { return len(acked.get("hap/q1")) + len(acked.get("hap/q2")) }
	waitFor(t, 20*time.Second, "100 publishes acknowledged through haproxy", func() bool { return total() >= 100 })

	for round := 1; round <= 2; round++ {
		c.killLeaderBehindProxy(round, px, pubs, subs, total)
	}
	stopPublishers()

	want1, want2 := acked.get("hap/q1"), acked.get("hap/q2")
	for _, s := range subs {
		checkEveryAcked(t, s.c, want1, want2)
		if err := s.failure(); err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d QoS 1 and %d QoS 2 messages acknowledged through haproxy reached both subscribers (QoS 2 exactly once) across 2 leader kills",
		len(want1), len(want2))
}

// killLeaderBehindProxy kills the leader with -9 while the clients run,
// waits until a publish is acknowledged through haproxy on a connection
// made after the kill, both subscribers are back and haproxy sends new
// clients to the new leader alone; it logs how long each took, then
// restarts the killed node and waits until it is in sync again.
func (c *cluster) killLeaderBehindProxy(round int, px *demo.Proxy, pubs []*proxyPub, subs []*proxySub, total func() int) {
	t := c.t
	t.Helper()
	leader := c.leader()
	killed := c.kill(leader)
	next, elected := c.waitLeader(10*time.Second, c.others(leader)...)

	var published, routed time.Time
	waitFor(t, 30*time.Second, "a publish acknowledged through haproxy after the kill, and haproxy sending new clients to "+next+" alone", func() bool {
		if routed.IsZero() && routesTo(px, next) {
			routed = time.Now()
		}
		for _, p := range pubs {
			if at, ok := p.firstAckAfter(killed); ok && (published.IsZero() || at.Before(published)) {
				published = at
			}
		}
		return !published.IsZero() && !routed.IsZero()
	})
	var resubscribed time.Time
	waitFor(t, 30*time.Second, "both subscribers reconnected through haproxy", func() bool {
		resubscribed = time.Time{}
		for _, s := range subs {
			if err := s.failure(); err != nil {
				t.Fatal(err)
			}
			at, ok := s.reconnectedAfter(killed)
			if !ok {
				return false
			}
			if at.After(resubscribed) {
				resubscribed = at
			}
		}
		return true
	})
	n := total()
	waitFor(t, 20*time.Second, "100 more publishes through haproxy", func() bool { return total() >= n+100 })
	since := func(at time.Time) time.Duration { return at.Sub(killed).Round(time.Millisecond) }
	t.Logf("round %d: killed leader %s; after the kill: %s leads after %v, haproxy routes to it alone after %v, "+
		"first publish acknowledged through haproxy after %v, both subscribers back after %v",
		round, leader, next, since(elected), since(routed), since(published), since(resubscribed))
	c.restart()
	c.waitInSync(2)
}

// checkEveryAcked waits until sub has received every payload of want1
// (QoS 1: at least once) and want2 (QoS 2), then checks that no QoS 2
// message arrived twice.
func checkEveryAcked(t *testing.T, sub *rawClient, want1, want2 []string) {
	t.Helper()
	missing := func() []string {
		_, count := sub.snapshot()
		var out []string
		for _, p := range append(slices.Clone(want1), want2...) {
			if count[p] == 0 {
				out = append(out, p)
			}
		}
		return out
	}
	ok := poll(60*time.Second, func() bool { return len(missing()) == 0 })
	if m := missing(); !ok {
		got, _ := sub.snapshot()
		t.Errorf("%s: %d of %d+%d acknowledged messages never arrived (received %d), e.g. %v",
			sub.id, len(m), len(want1), len(want2), len(got), m[:min(len(m), 10)])
		return
	}
	_, count := sub.snapshot()
	dups := 0
	for _, p := range want2 {
		if count[p] != 1 {
			if dups++; dups <= 5 {
				t.Errorf("%s: QoS 2 %s delivered %d times", sub.id, p, count[p])
			}
		}
	}
	if dups > 5 {
		t.Errorf("%s: ... %d QoS 2 messages delivered more than once in all", sub.id, dups)
	}
}
