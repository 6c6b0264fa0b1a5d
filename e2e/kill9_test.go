package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// pahoConnect connects a paho (MQTT 3.1.1) client with no automatic
// reconnect: a broker crash ends it, which is what the fault tests want.
func pahoConnect(t *testing.T, addr, id string, clean bool) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).SetWriteTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", id, tok.Error())
	}
	return c
}

// publisher publishes up to max messages on topic load/<id>/q<qos>,
// alternating QoS 1 and 2, keeping a window of unacknowledged publishes,
// until stop is closed or a publish fails. It records what was acked.
type publisher struct {
	id     string
	client paho.Client
	mu     sync.Mutex
	acked  []string
}

func (p *publisher) run(stop <-chan struct{}, max int, ackedTotal *atomic.Int64) {
	type pending struct {
		payload string
		tok     paho.Token
	}
	const window = 64
	var inflight []pending
	settle := func(pd pending) bool {
		if !pd.tok.WaitTimeout(10*time.Second) || pd.tok.Error() != nil {
			return false
		}
		p.mu.Lock()
		p.acked = append(p.acked, pd.payload)
		p.mu.Unlock()
		ackedTotal.Add(1)
		return true
	}
	deadline := time.Now().Add(60 * time.Second)
	for seq := 0; seq < max && time.Now().Before(deadline); seq++ {
		select {
		case <-stop:
			return
		default:
		}
		qos := byte(1 + seq%2)
		payload := fmt.Sprintf("%s/q%d/%06d", p.id, qos, seq)
		tok := p.client.Publish(fmt.Sprintf("load/%s/q%d", p.id, qos), qos, false, payload)
		inflight = append(inflight, pending{payload, tok})
		if len(inflight) >= window {
			if !settle(inflight[0]) {
				return
			}
			inflight = inflight[1:]
		}
	}
	for _, pd := range inflight {
		if !settle(pd) {
			return
		}
	}
}

func (p *publisher) ackedMessages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acked...)
}

// TestKill9LosesNothingAcked kills the broker with SIGKILL twice: once while
// publishers send QoS 1 and QoS 2 messages to offline persistent
// subscribers, once while a subscriber is receiving its backlog. Every
// acknowledged message must reach both subscribers, the QoS 2 subscriber
// exactly once and in each publisher's order, and retained messages must
// survive.
func TestKill9LosesNothingAcked(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end fault test")
	}
	n := newNode(t, "")
	n.start()

	subQoS := map[string]byte{"sub-q1": 1, "sub-q2": 2}
	subs := map[string]*rawClient{}
	for id, q := range subQoS {
		c := newRawClient(id)
		if _, err := c.connect(n.mqttAddr, map[string]byte{"load/#": q}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, id+" SUBACK", func() bool { return c.subacked() > 0 })
		c.disconnect(true)
		subs[id] = c
	}

	retained := pahoConnect(t, n.mqttAddr, "retainer", true)
	for i := 0; i < 5; i++ {
		tok := retained.Publish(fmt.Sprintf("ret/%d", i), 1, true, fmt.Sprintf("retained-%d", i))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("retained publish: %v", tok.Error())
		}
	}
	retained.Disconnect(100)

	// Phase 1: kill -9 while publishing.
	var ackedTotal atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pubs []*publisher
	for i := 0; i < 4; i++ {
		p := &publisher{id: fmt.Sprintf("p%d", i), client: pahoConnect(t, n.mqttAddr, fmt.Sprintf("pub-%d", i), true)}
		pubs = append(pubs, p)
		wg.Add(1)
		go func() { defer wg.Done(); p.run(stop, 5000, &ackedTotal) }()
	}
	waitFor(t, 60*time.Second, "1000 acked publishes", func() bool { return ackedTotal.Load() >= 1000 })
	n.kill()
	close(stop)
	wg.Wait()
	for _, p := range pubs {
		p.client.Disconnect(0)
	}
	var expected []string
	for _, p := range pubs {
		expected = append(expected, p.ackedMessages()...)
	}
	t.Logf("phase 1: %d publishes acknowledged before kill -9", len(expected))
	if len(expected) >= 4*5000 {
		t.Fatalf("all publishes finished before the kill: the test did not crash mid-stream")
	}

	// Phase 2: restart; the QoS 2 subscriber drains its backlog and the
	// broker is killed again halfway.
	n.start()
	// It withholds every PUBCOMP: the broker must have recorded that it
	// sent PUBREL, or after the restart it would send those messages again
	// as new ones, and the subscriber would deliver them twice.
	q2 := subs["sub-q2"]
	q2.setHoldComp(true)
	if present, err := q2.connect(n.mqttAddr, nil); err != nil || !present {
		t.Fatalf("sub-q2 reconnect: session present %v, err %v", present, err)
	}
	waitFor(t, 30*time.Second, "PUBRELs for sub-q2", func() bool { return q2.pubrelCount() >= len(expected)/8 })
	n.kill()
	q2.disconnect(false)
	q2.setHoldComp(false)
	t.Logf("phase 2: killed with %d PUBRELs unanswered", q2.pubrelCount())

	// Phase 3: restart and drain both subscribers.
	n.start()
	for id, c := range subs {
		if present, err := c.connect(n.mqttAddr, nil); err != nil || !present {
			t.Fatalf("%s reconnect: session present %v, err %v", id, present, err)
		}
	}
	for id, c := range subs {
		waitFor(t, 60*time.Second, id+" receiving every acked message", func() bool {
			_, count := c.snapshot()
			for _, m := range expected {
				if count[m] == 0 {
					return false
				}
			}
			return true
		})
	}
	// Everything the broker holds for them is delivered once its in-flight
	// count drops to zero; only then are duplicates final.
	waitFor(t, 30*time.Second, "broker in-flight count 0", func() bool {
		st, err := getStatus(n.httpAddr)
		return err == nil && st.Inflight == 0
	})
	for _, c := range subs {
		c.disconnect(true)
	}

	delivered, count := subs["sub-q2"].snapshot()
	for m, k := range count {
		if k > 1 && strings.Contains(m, "/q2/") {
			t.Errorf("QoS 2 message %s delivered %d times to the QoS 2 subscriber", m, k)
		}
	}
	checkOrder(t, delivered)
	_, count1 := subs["sub-q1"].snapshot()
	dups := 0
	for _, k := range count1 {
		dups += k - 1
	}
	t.Logf("delivered %d acked messages to each subscriber; QoS 1 subscriber duplicates (allowed): %d", len(expected), dups)

	// Retained messages survived both crashes.
	checker := newRawClient("retained-check")
	if _, err := checker.connect(n.mqttAddr, map[string]byte{"ret/#": 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "5 retained messages", func() bool {
		d, _ := checker.snapshot()
		return len(d) == 5
	})
	checker.disconnect(true)
}

// checkOrder asserts that each publisher's messages of one QoS arrive in
// the order they were published (duplicates aside).
func checkOrder(t *testing.T, delivered []string) {
	t.Helper()
	last := map[string]int{}
	seen := map[string]bool{}
	for _, m := range delivered {
		if seen[m] {
			continue
		}
		seen[m] = true
		i := strings.LastIndexByte(m, '/')
		stream := m[:i]
		seq, err := strconv.Atoi(m[i+1:])
		if err != nil {
			t.Fatalf("bad payload %q", m)
		}
		if prev, ok := last[stream]; ok && seq < prev {
			t.Errorf("stream %s: message %d delivered after %d", stream, seq, prev)
		}
		last[stream] = seq
	}
	streams := make([]string, 0, len(last))
	for s := range last {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	t.Logf("order checked on streams %v", streams)
}
