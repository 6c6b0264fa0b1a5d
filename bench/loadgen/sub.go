package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/triadmq/triad/bench/internal/stamp"
)

// subscriber receives one pair's topic and records, for every distinct
// sequence number, the publish-to-receipt latency.
type subscriber struct {
	client mqtt.Client
	done   chan struct{} // closed once every sequence number has arrived

	mu       sync.Mutex
	seen     []bool          // by sequence number
	lat      []time.Duration // one per distinct message
	dups     int
	lastRecv time.Time // receipt time of the latest distinct message
}

// newSubscriber connects, subscribes to topic at qos and returns once the
// broker has acknowledged the subscription.
func newSubscriber(ctx context.Context, addr, id, topic string, qos byte, count int) (*subscriber, error) {
	s := newRecorder(count)
	c, err := connect(ctx, addr, id)
	if err != nil {
		return nil, err
	}
	s.client = c
	if err := wait(ctx, c.Subscribe(topic, qos, s.onMessage)); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("subscribe %s to %s: %w", id, topic, err)
	}
	return s, nil
}

// newRecorder returns a subscriber with no connection yet, expecting
// sequence numbers 0..count-1.
func newRecorder(count int) *subscriber {
	return &subscriber{
		done: make(chan struct{}),
		seen: make([]bool, count),
		lat:  make([]time.Duration, 0, count),
	}
}

// onMessage runs on paho's router goroutine (OrderMatters, the default): it
// must not block, and paho acknowledges the message once it returns.
func (s *subscriber) onMessage(_ mqtt.Client, m mqtt.Message) {
	now := time.Now()
	sent, seq, ok := stamp.Decode(m.Payload())
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || seq >= uint64(len(s.seen)) {
		return // not one of this run's messages
	}
	if s.seen[seq] {
		s.dups++
		return
	}
	s.seen[seq] = true
	s.lat = append(s.lat, now.Sub(sent))
	s.lastRecv = now
	if len(s.lat) == len(s.seen) {
		close(s.done)
	}
}

// received is the number of distinct messages so far.
func (s *subscriber) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lat)
}

// subStats is a snapshot of what a subscriber recorded.
type subStats struct {
	lat      []time.Duration
	dups     int
	lastRecv time.Time
}

func (s *subscriber) stats() subStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return subStats{lat: append([]time.Duration(nil), s.lat...), dups: s.dups, lastRecv: s.lastRecv}
}
