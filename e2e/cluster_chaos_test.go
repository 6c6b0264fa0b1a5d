package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/triadmq/triad/sync/state"
)

// chaosRounds is how many times TestClusterChaos kills the leader: 5, or
// TRIAD_CHAOS_ROUNDS (`make chaos` sets 50).
func chaosRounds(t *testing.T) int {
	v := os.Getenv("TRIAD_CHAOS_ROUNDS")
	if v == "" {
		return 5
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		t.Fatalf("TRIAD_CHAOS_ROUNDS=%q: want a whole number from 1 to 1000", v)
	}
	return n
}

// ackLog collects the payloads a broker acknowledged.
type ackLog struct {
	mu   sync.Mutex
	acks map[string][]string // topic → payloads
}

func (a *ackLog) add(topic, p string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acks[topic] = append(a.acks[topic], p)
}

func (a *ackLog) get(topic string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.acks[topic]...)
}

// publishUntilKilled runs pubs publishers against addr, each sending QoS 1
// and QoS 2 messages (at most max each, for at most d) and logging every
// acknowledged one, until the broker goes away or stop is closed.
func publishUntilKilled(addr string, round, pubs, max int, d time.Duration, acked *ackLog, started chan<- struct{}, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	var once sync.Once
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := dialV311("tcp://"+addr, fmt.Sprintf("chaos-pub-%d-%d", round, p), true, nil, nil)
			if err != nil {
				return // the leader may already be gone
			}
			defer c.Disconnect(0)
			deadline := time.Now().Add(d)
			for i := 0; i < max && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				for _, qos := range []byte{1, 2} {
					topic := fmt.Sprintf("chaos/q%d", qos)
					payload := fmt.Sprintf("q%d-r%d-p%d-%04d", qos, round, p, i)
					tok := c.Publish(topic, qos, false, payload)
					if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
						return
					}
					acked.add(topic, payload)
					if i%50 == 0 && qos == 1 { // retained state too, compared at the end
						tok := c.Publish(fmt.Sprintf("chaos/retained/p%d", p), 1, true, payload)
						if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
							return
						}
					}
					if i == 5 {
						once.Do(func() { close(started) })
					}
				}
			}
		}()
	}
	return &wg
}

// TestClusterChaos: ten publishers at QoS 1 and QoS 2 while, in every
// round, the leader is killed with -9 and then, in turn, either the new
// leader is frozen (SIGSTOP) until another node leads and then resumed, or
// a follower is killed while the leader goes on acknowledging without it;
// five rounds (TRIAD_CHAOS_ROUNDS). Persistent subscribers, offline
// meanwhile, then receive every acknowledged message (QoS 2 exactly once),
// and all three nodes end with the same state: sessions, subscriptions,
// messages, deliveries and retained messages (GET /state/digest).
func TestClusterChaos(t *testing.T) {
	// The subscriber is offline throughout: room for every message fifty
	// rounds acknowledge (about 13000), beyond the default 10000 a session
	// holds.
	c := newClusterWith(t, func(cfg string) string {
		return strings.Replace(cfg, "\nmqtt:\n", "\nmqtt:\n  limits:\n    max_queued_messages: 100000\n", 1)
	})
	c.waitInSync(2)
	leader := c.leader()
	sub := newRawClient("chaos-sub")
	if _, err := sub.connect(c.node(leader).MQTTAddr, map[string]byte{"chaos/q1": 1, "chaos/q2": 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })
	sub.disconnect(true)

	acked := &ackLog{acks: map[string][]string{}}
	rounds := chaosRounds(t)
	for round := range rounds {
		c.underLoad(2*round, acked, c.killLeader)
		if round%2 == 0 {
			c.underLoad(2*round+1, acked, c.freezeLeader)
		} else {
			c.underLoad(2*round+1, acked, c.killFollower)
		}
	}

	leader = c.leader()
	if _, err := sub.connect(c.node(leader).MQTTAddr, nil); err != nil {
		t.Fatal(err)
	}
	defer sub.disconnect(true)
	want1, want2 := acked.get("chaos/q1"), acked.get("chaos/q2")
	missing := func() []string {
		_, count := sub.snapshot()
		var out []string
		for _, p := range append(want1, want2...) {
			if count[p] == 0 {
				out = append(out, p)
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for m := missing(); len(m) > 0; m = missing() {
		if time.Now().After(deadline) {
			got, _ := sub.snapshot()
			t.Fatalf("%d of %d+%d acknowledged messages never arrived (received %d), e.g. %v",
				len(m), len(want1), len(want2), len(got), m[:min(len(m), 10)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, count := sub.snapshot()
	seen := map[string]bool{}
	for _, p := range got {
		seen[p] = true
	}
	dups := 0
	for _, p := range want2 {
		if count[p] != 1 {
			dups++
			if dups <= 3 {
				var at []int
				for i, g := range got {
					if g == p {
						at = append(at, i)
					}
				}
				t.Errorf("QoS 2 %s delivered %d times (positions %v of %d)", p, count[p], at, len(got))
			}
		}
	}
	if dups > 3 {
		t.Errorf("... %d QoS 2 messages delivered more than once in all", dups)
	}
	c.waitSameState(20 * time.Second)
	t.Logf("%d QoS 1 and %d QoS 2 acknowledged messages all delivered after %d leader kills, %d leader freezes and %d follower kills",
		len(want1), len(want2), rounds, (rounds+1)/2, rounds/2)
}

// underLoad runs ten publishers against the leader, applies fault to it
// once they are going, stops them, brings every node back and waits until
// both followers are in sync again.
func (c *cluster) underLoad(step int, acked *ackLog, fault func(leader string, acked *ackLog) string) {
	c.t.Helper()
	leader := c.leader()
	started, stop := make(chan struct{}), make(chan struct{})
	wg := publishUntilKilled(c.node(leader).MQTTAddr, step, 10, 400, 20*time.Second, acked, started, stop)
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("step %d: publishers did not get going on %s", step, leader)
	}
	what := fault(leader, acked)
	close(stop)
	wg.Wait()
	c.t.Logf("step %d: %s; %d+%d messages acknowledged so far", step, what, len(acked.get("chaos/q1")), len(acked.get("chaos/q2")))
	c.restart()
	c.waitInSync(2)
}

func (c *cluster) killLeader(leader string, _ *ackLog) string {
	killed := c.kill(leader)
	next, at := c.waitLeader(10*time.Second, c.others(leader)...)
	return fmt.Sprintf("killed leader %s; %s leads after %v", leader, next, at.Sub(killed).Round(time.Millisecond))
}

// freezeLeader stops the leader until another node leads, then resumes
// it: it must have fenced itself, and rejoins as a follower.
func (c *cluster) freezeLeader(leader string, _ *ackLog) string {
	c.signal(leader, syscall.SIGSTOP)
	frozen := time.Now()
	next, at := c.waitLeader(15*time.Second, c.others(leader)...)
	c.signal(leader, syscall.SIGCONT)
	c.waitLeaderIs(10*time.Second, next)
	return fmt.Sprintf("froze leader %s; %s leads after %v; %s resumed as a follower", leader, next, at.Sub(frozen).Round(time.Millisecond), leader)
}

// killFollower kills a follower and lets the leader acknowledge messages
// without it, once it is out of the in-sync set.
func (c *cluster) killFollower(leader string, acked *ackLog) string {
	victim := c.others(leader)[0]
	c.kill(victim)
	c.waitInSync(1)
	n := len(acked.get("chaos/q1"))
	waitFor(c.t, 10*time.Second, "50 more acknowledgements without "+victim, func() bool { return len(acked.get("chaos/q1")) >= n+50 })
	return fmt.Sprintf("killed follower %s; leader %s went on", victim, leader)
}

// waitSameState waits until every node's GET /state/digest shows the same
// applied index and the same digest, and fails the test with the digests
// if they do not converge.
func (c *cluster) waitSameState(timeout time.Duration) {
	c.t.Helper()
	var last []state.Digest
	ok := poll(timeout, func() bool {
		last = last[:0]
		for _, n := range c.names() {
			var d state.Digest
			if err := c.getJSON(n, "/state/digest", &d); err != nil {
				return false
			}
			last = append(last, d)
		}
		return last[0].Applied > 0 && last[0] == last[1] && last[1] == last[2]
	})
	if !ok {
		c.t.Fatalf("the nodes' states differ after %v: %+v", timeout, last)
	}
	c.t.Logf("all nodes hold the same state: %+v", last[0])
}
