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

// config is one run's workload; flags.go fills it from the command line.
type config struct {
	addr     string
	pairs    int
	qos      int
	size     int
	count    int
	inflight int
	timeout  time.Duration // bound on the whole run, connecting included
	idle     time.Duration // after publishing, how long no new receipt ends a QoS 0 wait
	stall    time.Duration // after every QoS 1/2 publish completed, how long no new receipt fails the run
	label    string
	runID    string
}

var (
	// errMissing reports QoS 1/2 messages that never arrived.
	errMissing = errors.New("messages missing")
	// errStalled reports that deliveries stopped although the broker had
	// acknowledged every publish: the rest are lost, not late.
	errStalled = errors.New("deliveries stalled")
)

// quietRule says, once publishing is over, how long a spell with no new
// delivery ends the wait for messages, and with what error (nil: an expected
// end, e.g. loss allowed at QoS 0).
type quietRule struct {
	after time.Duration
	err   error
}

// run connects pairs subscribers and then pairs publishers, starts every
// publisher at once and waits until every message has arrived, cfg.timeout
// has passed since run began, or ctx ends. It always returns a Result; err
// says why the run failed (res.OK is then false).
func run(ctx context.Context, cfg config) (res result.Result, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	res = result.Result{
		Label: cfg.label, QoS: cfg.qos, Pairs: cfg.pairs, Size: cfg.size,
		Count: cfg.count, Expected: cfg.pairs * cfg.count, Missing: cfg.pairs * cfg.count,
	}
	subs, pubs, err := setup(ctx, cfg)
	defer disconnectAll(subs, pubs)
	if err != nil {
		return res, err
	}

	start := make(chan struct{})
	var first atomic.Int64
	pubErrs := make([]error, len(pubs))
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pubErrs[i] = p.run(ctx, start, &first)
		}()
	}
	pubsDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(pubsDone)
	}()
	close(start)

	// Asked once the publishers are done, when pubErrs is complete.
	settle := func() quietRule {
		switch {
		case cfg.qos == 0, firstError(pubErrs) != nil: // loss allowed, or already reported
			return quietRule{after: cfg.idle}
		default:
			return quietRule{after: cfg.stall, err: fmt.Errorf("nothing delivered for %v after every publish was acknowledged: %w", cfg.stall, errStalled)}
		}
	}
	waitErr := waitForReceipt(ctx, subs, pubsDone, settle)
	<-pubsDone // publishers end by themselves: done, failed, or ctx expired
	fill(&res, subs, pubs, time.Unix(0, first.Load()))
	return res, verdict(res, waitErr, summarize(pubErrs))
}

// setup connects and subscribes every subscriber, then connects every
// publisher. On error it returns what it connected so far, for disconnectAll.
func setup(ctx context.Context, cfg config) ([]*subscriber, []*publisher, error) {
	var subs []*subscriber
	var pubs []*publisher
	for i := range cfg.pairs {
		topic := fmt.Sprintf("bench/%s/%d", cfg.runID, i)
		s, err := newSubscriber(ctx, cfg.addr, fmt.Sprintf("bench-%s-s%d", cfg.runID, i), topic, byte(cfg.qos), cfg.count)
		if err != nil {
			return subs, pubs, err
		}
		subs = append(subs, s)
	}
	for i := range cfg.pairs {
		c, err := connect(ctx, cfg.addr, fmt.Sprintf("bench-%s-p%d", cfg.runID, i))
		if err != nil {
			return subs, pubs, err
		}
		pubs = append(pubs, &publisher{
			client: c, topic: fmt.Sprintf("bench/%s/%d", cfg.runID, i),
			qos: byte(cfg.qos), size: cfg.size, count: cfg.count, inflight: cfg.inflight,
		})
	}
	return subs, pubs, nil
}

func disconnectAll(subs []*subscriber, pubs []*publisher) {
	for _, p := range pubs {
		p.client.Disconnect(100)
	}
	for _, s := range subs {
		s.client.Disconnect(100)
	}
}

// waitForReceipt returns nil once every subscriber has every message, or an
// error once ctx ends. Once pubsDone is closed it also ends after the quiet
// spell that settle then gives, returning that rule's error. It polls the
// receive counts to notice the quiet spell.
func waitForReceipt(ctx context.Context, subs []*subscriber, pubsDone <-chan struct{}, settle func() quietRule) error {
	allDone := make(chan struct{})
	go func() {
		for _, s := range subs {
			select {
			case <-s.done:
			case <-ctx.Done():
				return
			}
		}
		close(allDone)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var quiet *quietRule // set once publishing is over
	last, lastChange := -1, time.Now()
	for {
		select {
		case <-allDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for messages: %w", ctx.Err())
		case <-pubsDone:
			rule := settle()
			quiet, pubsDone = &rule, nil
			lastChange = time.Now()
		case now := <-tick.C:
			if n := totalReceived(subs); n != last {
				last, lastChange = n, now
			} else if quiet != nil && now.Sub(lastChange) >= quiet.after {
				return quiet.err
			}
		}
	}
}

// summarize reports failed publishers by count and the first error, keeping
// the run's error to one line however many publishers failed.
func summarize(errs []error) error {
	first := firstError(errs)
	if first == nil {
		return nil
	}
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	return fmt.Errorf("%d of %d publishers failed, first: %w", n, len(errs), first)
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func totalReceived(subs []*subscriber) int {
	n := 0
	for _, s := range subs {
		n += s.received()
	}
	return n
}

// fill completes res from what the clients recorded.
func fill(res *result.Result, subs []*subscriber, pubs []*publisher, first time.Time) {
	var lat []time.Duration
	var last time.Time
	for _, s := range subs {
		st := s.stats()
		lat = append(lat, st.lat...)
		res.Duplicates += st.dups
		if st.lastRecv.After(last) {
			last = st.lastRecv
		}
	}
	for _, p := range pubs {
		res.Sent += p.sent
	}
	res.Received = len(lat)
	res.Missing = res.Expected - res.Received
	if len(lat) > 0 && last.After(first) {
		res.DurationS = last.Sub(first).Seconds()
		res.MsgPerSec = float64(res.Received) / res.DurationS
	}
	sum := result.Summarize(lat)
	res.P50Ms, res.P99Ms, res.MaxMs = result.Millis(sum.P50), result.Millis(sum.P99), result.Millis(sum.Max)
}

// verdict decides whether the run failed: a publisher error or a wait cut
// short by the deadline always fails it; missing messages fail it at QoS 1
// and 2 and are reported with it.
func verdict(res result.Result, waitErr, pubErr error) error {
	var err error
	switch {
	case res.QoS > 0 && res.Missing > 0 && waitErr != nil:
		err = fmt.Errorf("%d of %d %w: %w", res.Missing, res.Expected, errMissing, waitErr)
	case res.QoS > 0 && res.Missing > 0:
		err = fmt.Errorf("%d of %d %w", res.Missing, res.Expected, errMissing)
	case waitErr != nil:
		err = fmt.Errorf("%d of %d messages lost: %w", res.Missing, res.Expected, waitErr)
	}
	switch {
	case err == nil:
		return pubErr
	case pubErr == nil:
		return err
	default:
		return fmt.Errorf("%w; %w", err, pubErr)
	}
}
