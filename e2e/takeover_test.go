package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestReconnectDuringFanOut: a persistent QoS 1/2 subscriber reconnects
// again and again — after dropping its connection, and by taking its
// session over from a connection still open — while publishers keep
// publishing to it; then the node is killed with -9 and restarted. A
// message routed to the session while a new connection is inheriting it
// must not be left behind on the old one, and acknowledgements that
// arrive on the old connection must leave the session's record right.
//
//   - acking: the subscriber acknowledges everything as it arrives, on
//     whichever connection; in the end every message has arrived, QoS 2
//     exactly once, across the takeovers and the restart.
//   - holding: the subscriber holds its QoS 1 PUBACKs throughout, so every
//     QoS 1 message is still in flight at the kill: each must be delivered
//     again after the restart, from the node's store.
func TestReconnectDuringFanOut(t *testing.T) {
	t.Run("acking", func(t *testing.T) { reconnectDuringFanOut(t, false) })
	t.Run("holding", func(t *testing.T) { reconnectDuringFanOut(t, true) })
}

func reconnectDuringFanOut(t *testing.T, hold bool) {
	n := newNode(t, "")
	n.start()
	const (
		publishers = 4 // half QoS 1, half QoS 2
		perPub     = 1500
		target     = 600  // acknowledged publishes to reconnect through
		reconnects = 2000 // at most
	)
	sub := newRawClient("takeover-sub")
	sub.setHoldAcks(hold)
	topics := map[byte]string{1: "takeover/q1", 2: "takeover/q2"}
	if _, err := sub.connect(n.mqttAddr, map[string]byte{topics[1]: 1, topics[2]: 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })

	acked := &ackLog{acks: map[string][]string{}}
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	pubErrs := make(chan error, publishers)
	for i := range publishers {
		qos := byte(1 + i%2)
		pubs.Go(func() {
			pubErrs <- publishAcked(n.mqttAddr, fmt.Sprintf("takeover-pub-%d", i), topics[qos], qos, perPub, acked, stop)
		})
	}
	total := func() int { return len(acked.get(topics[1])) + len(acked.get(topics[2])) }
	deadline := time.Now().Add(60 * time.Second)
	done := 0
	for ; total() < target && done < reconnects && time.Now().Before(deadline); done++ {
		if done%2 == 0 {
			sub.disconnect(false) // the connection just ends; the session stays
		}
		// Otherwise a second connection for the same client id takes the
		// session over while the first is still open.
		if _, err := sub.connect(n.mqttAddr, nil); err != nil {
			t.Fatalf("reconnect %d: %v", done, err)
		}
	}
	close(stop)
	pubs.Wait()
	close(pubErrs)
	for err := range pubErrs {
		if err != nil {
			t.Error(err)
		}
	}
	want1, want2 := acked.get(topics[1]), acked.get(topics[2])
	if len(want1)+len(want2) < target {
		t.Fatalf("only %d+%d publishes acknowledged during %d reconnects", len(want1), len(want2), done)
	}

	_, before := sub.snapshot()
	n.kill()
	n.start()
	sub.disconnect(false)
	sub.setHoldAcks(false)
	if present, err := sub.connect(n.mqttAddr, nil); err != nil || !present {
		t.Fatalf("reconnect after kill -9: session present %v, %v", present, err)
	}
	if hold {
		again := func() []string {
			_, now := sub.snapshot()
			var missing []string
			for _, p := range want1 {
				if now[p] <= before[p] {
					missing = append(missing, p)
				}
			}
			return missing
		}
		if !poll(30*time.Second, func() bool { return len(again()) == 0 }) {
			m := again()
			t.Errorf("%d of %d unacknowledged QoS 1 messages not delivered after kill -9, e.g. %v", len(m), len(want1), m[:min(len(m), 10)])
		}
	}
	checkEveryAcked(t, sub, want1, want2)
	if t.Failed() {
		return
	}
	t.Logf("%d QoS 1 and %d QoS 2 messages acknowledged while the subscriber reconnected %d times: all delivered (QoS 2 once) across the takeovers and a kill -9",
		len(want1), len(want2), done)
	sub.disconnect(true)
}

// publishAcked publishes up to count messages to topic at qos, one at a
// time, recording each acknowledged payload, until stop is closed.
func publishAcked(addr, id, topic string, qos byte, count int, acked *ackLog, stop <-chan struct{}) error {
	c, _, err := dialV311("tcp://"+addr, id, true, nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	defer c.Disconnect(0)
	for i := range count {
		select {
		case <-stop:
			return nil
		default:
		}
		payload := fmt.Sprintf("%s-%06d", id, i)
		if err := waitToken(c.Publish(topic, qos, false, payload)); err != nil {
			return fmt.Errorf("%s: publish %s: %w", id, payload, err)
		}
		acked.add(topic, payload)
	}
	return nil
}

func waitToken(tok paho.Token) error {
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("no answer within 10s")
	}
	return tok.Error()
}
