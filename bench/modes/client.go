package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/triadmq/triad/bench/internal/stamp"
)

// Bounds of one client's connection.
const (
	connectTimeout = 10 * time.Second
	writeTimeout   = 10 * time.Second
	keepAlive      = 30 * time.Second
	disconnectMs   = 250 // quiesce on Disconnect, in ms
)

// loopClient is one loopback client: an MQTT 3.1.1 connection with a
// clean session, subscribed at QoS 1 to a topic of its own, that
// publishes its messages to that topic and so receives them back on the
// same connection (MQTT 3.1.1 has no No Local option: a client gets its
// own messages [MQTT-3.3.5-1]). Publisher and subscriber are therefore on
// the same node whichever node HAProxy chose, which dynsec mode needs: it
// does not forward messages between nodes.
type loopClient struct {
	id, topic string
	client    mqtt.Client
	rec       *recorder

	mu   sync.Mutex
	lost error // why the connection dropped, if it did
}

// dialLoop connects id to addr (no automatic reconnect: a dropped
// connection shows as failed publishes and lost messages, never as a
// silent retry), subscribes it to topic at QoS 1 and returns once the
// SUBACK has come. It gives up when ctx ends.
func dialLoop(ctx context.Context, addr, id, topic string, count int) (*loopClient, error) {
	c := &loopClient{id: id, topic: topic, rec: newRecorder(count)}
	opts := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(keepAlive).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			c.mu.Lock()
			c.lost = err
			c.mu.Unlock()
		})
	c.client = mqtt.NewClient(opts)
	if err := wait(ctx, c.client.Connect()); err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", id, addr, err)
	}
	if err := wait(ctx, c.client.Subscribe(topic, 1, c.onMessage)); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("subscribe %s to %s: %w", id, topic, err)
	}
	return c, nil
}

// onMessage runs on paho's router goroutine (OrderMatters, the default):
// it must not block, and paho acknowledges the message once it returns.
func (c *loopClient) onMessage(_ mqtt.Client, m mqtt.Message) {
	now := time.Now()
	if sent, seq, ok := stamp.Decode(m.Payload()); ok {
		c.rec.receive(sent, seq, now)
	}
}

// connectionLost says why the connection dropped, or nil.
func (c *loopClient) connectionLost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// pending is a publish not yet acknowledged.
type pending struct {
	tok mqtt.Token
	seq int
}

// publish waits for start, then publishes count QoS 1 messages of size
// bytes to the client's topic, keeping at most inflight unacknowledged:
// when the window is full it waits for the oldest. Each completed publish
// is recorded as acknowledged. first is set (once, by whichever client is
// first) to the time of the run's first publish. It returns when every
// publish has been acknowledged, one fails, or ctx ends.
func (c *loopClient) publish(ctx context.Context, start <-chan struct{}, first *atomic.Int64, count, size, inflight int) error {
	select {
	case <-start:
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting to start: %w", c.id, context.Cause(ctx))
	}
	window := make([]pending, inflight) // publish seq sits in window[seq%inflight]
	for seq := range count {
		slot := &window[seq%inflight]
		if seq >= inflight { // the window is full: wait for the oldest
			if err := c.complete(ctx, *slot); err != nil {
				return err
			}
		}
		now := time.Now()
		first.CompareAndSwap(0, now.UnixNano())
		*slot = pending{c.client.Publish(c.topic, 1, false, stamp.Encode(size, now, seq)), seq}
	}
	for seq := max(0, count-inflight); seq < count; seq++ {
		if err := c.complete(ctx, window[seq%inflight]); err != nil {
			return err
		}
	}
	return nil
}

// complete waits for p's PUBACK and records it.
func (c *loopClient) complete(ctx context.Context, p pending) error {
	if err := wait(ctx, p.tok); err != nil {
		if lost := c.connectionLost(); lost != nil {
			err = fmt.Errorf("%w (connection lost: %w)", err, lost)
		}
		return fmt.Errorf("%s: publish %d: %w", c.id, p.seq, err)
	}
	c.rec.ack(p.seq)
	return nil
}

// wait blocks until tok completes or ctx ends; cancellation abandons the
// token (paho completes it later on its own).
func wait(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting: %w", context.Cause(ctx))
	}
}
