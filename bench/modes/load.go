package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/triadmq/triad/bench/internal/result"
)

// loadConfig is one mode's workload, the same in every mode.
type loadConfig struct {
	clients  int
	count    int // messages per client
	inflight int // unacknowledged publishes per client, at most
	size     int // payload bytes
	timeout  time.Duration
	stall    time.Duration
}

// deliveryPoll is how often the load looks at the delivery counts to
// notice a quiet spell.
const deliveryPoll = 50 * time.Millisecond

// loadResult is what one mode's load measured; its JSON names are part of
// the -json output.
type loadResult struct {
	Clients    int     `json:"clients"`
	Messages   int     `json:"messages"`   // clients × count: what the load set out to publish
	Acked      int     `json:"acked"`      // publishes the broker acknowledged (PUBACK)
	Delivered  int     `json:"delivered"`  // distinct messages that came back to their client
	Lost       int     `json:"lost"`       // acknowledged publishes that never came back
	Duplicates int     `json:"duplicates"` // second arrivals of a message
	DurationS  float64 `json:"duration_s"` // first publish to last distinct delivery
	MsgPerSec  float64 `json:"msg_per_s"`  // Delivered / DurationS: the aggregate rate
	P50Ms      float64 `json:"p50_ms"`     // publish-to-delivery latency percentiles
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// CutShort: the wait for deliveries ended early (-timeout, an
	// interrupt), so messages still on their way count as lost.
	CutShort bool `json:"cut_short,omitempty"`
}

// runLoad connects lc.clients loopback clients to addr one after the
// other (ids and topics start with prefix), starts their publishers at
// once, and waits until every message has come back, or the publishers
// are done and nothing new arrived for lc.stall, or lc.timeout has passed
// since it began, or ctx ends. Then, with the clients still connected, it
// calls atEnd (with ctx, not the load's timeout) and disconnects them. It
// always returns what was measured; err says why the load did not run to
// its end (a client that could not connect, a failed publish, the
// timeout). Lost messages are in the result, not in err.
func runLoad(ctx context.Context, addr, prefix string, lc loadConfig, atEnd func(context.Context)) (loadResult, error) {
	lctx, cancel := context.WithTimeoutCause(ctx, lc.timeout, fmt.Errorf("%w (%v)", errLoadTimeout, lc.timeout))
	defer cancel()
	clients, err := dialAll(lctx, addr, prefix, lc)
	defer disconnectAll(clients)
	if err != nil {
		return summarize(lc, tallies(clients), time.Time{}), err
	}

	start := make(chan struct{})
	var first atomic.Int64
	pubErrs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { pubErrs[i] = c.publish(lctx, start, &first, lc.count, lc.size, lc.inflight) })
	}
	pubsDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(pubsDone)
	}()
	close(start)
	waitErr := waitDeliveries(lctx, clients, pubsDone, lc.stall)
	<-pubsDone // the publishers end by themselves: done, failed, or lctx ended
	if atEnd != nil {
		atEnd(ctx)
	}
	var at time.Time
	if ns := first.Load(); ns != 0 {
		at = time.Unix(0, ns)
	}
	res := summarize(lc, tallies(clients), at)
	res.CutShort = waitErr != nil
	return res, errors.Join(waitErr, publishErrors(pubErrs))
}

// errLoadTimeout is the cause of a load cut short by its -timeout.
var errLoadTimeout = errors.New("the load's -timeout ran out")

// dialAll connects the clients one at a time, which lets HAProxy's
// leastconn balancing spread them evenly in dynsec mode. On error it
// returns those connected so far, for disconnectAll.
func dialAll(ctx context.Context, addr, prefix string, lc loadConfig) ([]*loopClient, error) {
	var out []*loopClient
	for i := range lc.clients {
		c, err := dialLoop(ctx, addr, fmt.Sprintf("%s-c%d", prefix, i), fmt.Sprintf("bench/%s/%d", prefix, i), lc.count)
		if err != nil {
			return out, fmt.Errorf("client %d of %d: %w", i+1, lc.clients, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func disconnectAll(clients []*loopClient) {
	for _, c := range clients {
		c.client.Disconnect(disconnectMs)
	}
}

// waitDeliveries returns nil once every client has every message back,
// or once pubsDone is closed and then no new message arrives for stall
// (what is missing then is lost, or was never acknowledged); it returns
// an error when ctx ends first.
func waitDeliveries(ctx context.Context, clients []*loopClient, pubsDone <-chan struct{}, stall time.Duration) error {
	allDone := make(chan struct{})
	go func() {
		for _, c := range clients {
			select {
			case <-c.rec.done:
			case <-ctx.Done():
				return
			}
		}
		close(allDone)
	}()
	tick := time.NewTicker(deliveryPoll)
	defer tick.Stop()
	published := false
	last, lastChange := -1, time.Now()
	for {
		select {
		case <-allDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for deliveries: %w", context.Cause(ctx))
		case <-pubsDone:
			published, pubsDone = true, nil
			lastChange = time.Now()
		case now := <-tick.C:
			if n := totalReceived(clients); n != last {
				last, lastChange = n, now
			} else if published && now.Sub(lastChange) >= stall {
				return nil
			}
		}
	}
}

func totalReceived(clients []*loopClient) int {
	n := 0
	for _, c := range clients {
		n += c.rec.received()
	}
	return n
}

func tallies(clients []*loopClient) []tally {
	out := make([]tally, len(clients))
	for i, c := range clients {
		out[i] = c.rec.tally()
	}
	return out
}

// publishErrors reports failed clients by count and the first error,
// keeping the error to one line however many failed.
func publishErrors(errs []error) error {
	var first error
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
			if first == nil {
				first = err
			}
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("%d of %d clients failed to publish, first: %w", n, len(errs), first)
}

// summarize adds up the clients' tallies (fewer than lc.clients when some
// never connected). first is the run's first publish (zero if none): the
// aggregate rate is every distinct delivery over the time from it to the
// last delivery; latencies are percentiles over every client's messages.
func summarize(lc loadConfig, ts []tally, first time.Time) loadResult {
	res := loadResult{Clients: lc.clients, Messages: lc.clients * lc.count}
	var lat []time.Duration
	var last time.Time
	for _, t := range ts {
		res.Acked += t.acked
		res.Delivered += t.delivered
		res.Lost += t.lost
		res.Duplicates += t.dups
		lat = append(lat, t.lat...)
		if t.lastRecv.After(last) {
			last = t.lastRecv
		}
	}
	if res.Delivered > 0 && !first.IsZero() && last.After(first) {
		res.DurationS = last.Sub(first).Seconds()
		res.MsgPerSec = float64(res.Delivered) / res.DurationS
	}
	sum := result.Summarize(lat)
	res.P50Ms, res.P99Ms, res.MaxMs = result.Millis(sum.P50), result.Millis(sum.P99), result.Millis(sum.Max)
	return res
}
