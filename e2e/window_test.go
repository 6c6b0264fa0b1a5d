package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestInflightWindow: with max_inflight 2, a subscriber that does not
// acknowledge has exactly two QoS 1 messages outstanding; the rest wait in
// order and follow one per PUBACK, while QoS 0 messages are not held up.
func TestInflightWindow(t *testing.T) {
	n := newNode(t, "  limits:\n    max_inflight: 2\n")
	n.start()
	url := "tcp://" + n.mqttAddr

	sub := newRawClient("win-sub")
	sub.setHoldAcks(true)
	if _, err := sub.connect(n.mqttAddr, map[string]byte{"win/#": 1}); err != nil {
		t.Fatal(err)
	}
	defer sub.disconnect(true)
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })

	pub, _ := mustDialV311(t, url, "win-pub", true, nil)
	defer pub.Disconnect(250)
	msgs := seqPayloads("m", 5)
	for _, m := range msgs {
		pubV311(t, pub, "win/t", 1, false, m)
	}
	// A QoS 0 marker published after them passes the full window; once it
	// is in, everything the window let through is in too.
	delivered := func() []string { d, _ := sub.snapshot(); return d }
	mark := func(name string) {
		t.Helper()
		pubV311(t, pub, "win/t", 0, false, name)
		waitFor(t, 10*time.Second, name, func() bool { return contains(delivered(), name) })
	}
	mark("marker1")
	if got, want := delivered(), []string{msgs[0], msgs[1], "marker1"}; !slices.Equal(got, want) {
		t.Fatalf("with 2 unacknowledged: delivered %v, want %v", got, want)
	}

	if err := sub.ackHeld(1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, msgs[2], func() bool { return contains(delivered(), msgs[2]) })
	mark("marker2")
	if got, want := delivered(), []string{msgs[0], msgs[1], "marker1", msgs[2], "marker2"}; !slices.Equal(got, want) {
		t.Fatalf("after one PUBACK: delivered %v, want %v", got, want)
	}

	sub.setHoldAcks(false)
	if err := sub.ackHeld(2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "all five", func() bool { return contains(delivered(), msgs[4]) })
	if err := sub.ackHeld(10); err != nil {
		t.Fatal(err)
	}
	var qos1 []string
	_, count := sub.snapshot()
	for _, p := range delivered() {
		if strings.HasPrefix(p, "m-") {
			qos1 = append(qos1, p)
		}
	}
	if !slices.Equal(qos1, msgs) {
		t.Fatalf("QoS 1 messages delivered %v, want %v in order", qos1, msgs)
	}
	for _, m := range msgs {
		if count[m] != 1 {
			t.Errorf("%s delivered %d times, want once", m, count[m])
		}
	}
	waitQuiet(t, n)
}

// TestFanInLoad: many publishers send QoS 1 to one acknowledging
// subscriber at once. This is the load under which mochi's own send quota
// deadlocked a subscriber for good (Inflight.NextImmediate re-taking its read
// lock while publishers wait to write); every message must arrive.
func TestFanInLoad(t *testing.T) {
	const pubs, each = 8, 400
	n := newNode(t, "  limits:\n    max_inflight: 16\n")
	n.start()
	url := "tcp://" + n.mqttAddr

	log := newMsgLog()
	sub, _ := mustDialV311(t, url, "fanin-sub", false, log)
	defer sub.Disconnect(250)
	subV311(t, sub, map[string]byte{"fanin/#": 1})

	var wg sync.WaitGroup
	errs := make(chan error, pubs)
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := dialV311(url, fmt.Sprintf("fanin-pub-%d", p), true, nil, nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Disconnect(250)
			deadline := time.Now().Add(60 * time.Second)
			for i := range each {
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("publisher %d: %d messages not sent within 60s", p, each-i)
					return
				}
				tok := c.Publish("fanin/t", 1, false, fmt.Sprintf("p%d-%04d", p, i))
				if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
					errs <- fmt.Errorf("publisher %d message %d: not acknowledged: %v", p, i, tok.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d messages at the subscriber", pubs*each), func() bool {
		return log.distinct("fanin/t") == pubs*each
	})
	waitQuiet(t, n)
}
