package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/triadmq/triad/bench/internal/stamp"
)

// publisher sends count messages to one topic, keeping at most inflight
// publishes outstanding: when the window is full it waits on the oldest
// token. For QoS 0 a token completes once the packet is written, so the window
// also bounds what paho buffers.
type publisher struct {
	client   mqtt.Client
	topic    string
	qos      byte
	size     int
	count    int
	inflight int

	sent int // completed publishes; read only after run returns
}

// run waits for start, then publishes. first is set (once, by whichever
// publisher is first) to the time of the run's first publish. It returns when
// every publish has completed, one fails, or ctx ends.
func (p *publisher) run(ctx context.Context, start <-chan struct{}, first *atomic.Int64) error {
	select {
	case <-start:
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting to start: %w", p.topic, ctx.Err())
	}
	window := newTokenRing(p.inflight)
	for seq := range p.count {
		if window.full() {
			if err := p.complete(ctx, window.pop()); err != nil {
				return err
			}
		}
		now := time.Now()
		first.CompareAndSwap(0, now.UnixNano())
		window.push(p.client.Publish(p.topic, p.qos, false, stamp.Encode(p.size, now, seq)))
	}
	for !window.empty() {
		if err := p.complete(ctx, window.pop()); err != nil {
			return err
		}
	}
	return nil
}

func (p *publisher) complete(ctx context.Context, tok mqtt.Token) error {
	if err := wait(ctx, tok); err != nil {
		return fmt.Errorf("%s: publish after %d completed: %w", p.topic, p.sent, err)
	}
	p.sent++
	return nil
}

// tokenRing is a fixed-size FIFO of outstanding publish tokens.
type tokenRing struct {
	buf  []mqtt.Token
	head int
	n    int
}

func newTokenRing(size int) *tokenRing { return &tokenRing{buf: make([]mqtt.Token, size)} }

func (r *tokenRing) full() bool  { return r.n == len(r.buf) }
func (r *tokenRing) empty() bool { return r.n == 0 }

func (r *tokenRing) push(t mqtt.Token) {
	r.buf[(r.head+r.n)%len(r.buf)] = t
	r.n++
}

func (r *tokenRing) pop() mqtt.Token {
	t := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return t
}
