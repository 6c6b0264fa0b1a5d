package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
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
			start := time.Now()
			deadline := start.Add(60 * time.Second)
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

// TestQueuedBeyondWindow: a persistent subscriber comes back to find five
// times its window queued, QoS 1 and QoS 2 mixed, with the broker running
// on or restarted (kill -9) in between; everything arrives, in order, QoS 2
// exactly once, as the window slides over the whole backlog. (A per-packet
// pass over the session's in-flight map once made this take minutes.)
func TestQueuedBeyondWindow(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) { testQueuedBeyondWindow(t, restart) })
	}
}

func testQueuedBeyondWindow(t *testing.T, restart bool) {
	const window, queued = 1000, 5000
	n := newNode(t, fmt.Sprintf("  limits:\n    max_inflight: %d\n", window))
	n.start()

	sub := newRawClient("backlog-sub")
	if _, err := sub.connect(n.mqttAddr, map[string]byte{"backlog/#": 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })
	sub.disconnect(true)

	pub, _ := mustDialV311(t, "tcp://"+n.mqttAddr, "backlog-pub", true, nil)
	msgs := seqPayloads("q", queued)
	toks := make([]paho.Token, 0, queued)
	for i, m := range msgs { // asynchronously: far more in flight than receive_maximum
		toks = append(toks, pub.Publish("backlog/t", byte(1+i%2), false, m))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: not acknowledged: %v", msgs[i], tok.Error())
		}
	}
	pub.Disconnect(250)
	if restart {
		n.kill()
		n.start()
	}

	if _, err := sub.connect(n.mqttAddr, nil); err != nil {
		t.Fatal(err)
	}
	defer sub.disconnect(true)
	start := time.Now()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d queued messages and %d PUBRELs", queued, queued/2), func() bool {
		_, count := sub.snapshot()
		return len(count) == queued && sub.pubrelCount() == queued/2
	})
	t.Logf("%d queued messages delivered in %v", queued, time.Since(start).Round(time.Millisecond))
	delivered, count := sub.snapshot()
	if !slices.Equal(delivered, msgs) {
		t.Errorf("delivered %d messages, not once each in publish order", len(delivered))
	}
	for i, m := range msgs {
		if i%2 == 1 && count[m] != 1 {
			t.Errorf("QoS 2 message %s delivered %d times, want once", m, count[m])
		}
	}
	waitQuiet(t, n)
}

// TestReceiveMaximumIsMQTT5Only: receive_maximum is announced to MQTT 5
// clients in CONNACK; a 3.1.1 client is never told it, so one with more
// QoS 1/2 messages unacknowledged (paho publishing asynchronously) is
// served, not disconnected.
func TestReceiveMaximumIsMQTT5Only(t *testing.T) {
	const limit, sent = 2, 200
	n := newNode(t, fmt.Sprintf("  limits:\n    receive_maximum: %d\n", limit))
	n.start()
	v5 := dialV5(t, n.mqttAddr, "rm-v5", true, 0, nil)
	defer v5.Disconnect(&paho5.Disconnect{})
	if rm := v5.ack.Properties.ReceiveMaximum; rm == nil || *rm != limit {
		t.Fatalf("MQTT 5 CONNACK Receive Maximum = %v, want %d", rm, limit)
	}

	pub, _ := mustDialV311(t, "tcp://"+n.mqttAddr, "rm-pub", true, nil)
	defer pub.Disconnect(250)
	toks := make([]paho.Token, 0, sent)
	for i := range sent {
		toks = append(toks, pub.Publish("rm/t", byte(1+i%2), false, fmt.Sprint(i)))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d of %d: not acknowledged: %v", i, sent, tok.Error())
		}
	}
	if !pub.IsConnectionOpen() {
		t.Fatalf("the 3.1.1 publisher was disconnected")
	}
}
