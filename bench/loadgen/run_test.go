package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/triadmq/triad/bench/internal/result"
)

// tLog sends a logger's lines to t.Log until the test ends. The broker's
// connection goroutines may still log after Close returns; those lines are
// dropped rather than logged to a finished test.
type tLog struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func newTLog(t *testing.T) *tLog {
	w := &tLog{t: t}
	t.Cleanup(func() { // registered first, so it runs after the broker's Close
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return w
}

func (w *tLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

// startBroker runs an in-process mochi broker on a free loopback port and
// returns its address; it is closed when the test ends.
func startBroker(t *testing.T) string {
	t.Helper()
	s := mqtt.New(&mqtt.Options{
		Logger: slog.New(slog.NewTextHandler(newTLog(t), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return l.Address()
}

func TestRunAgainstMochi(t *testing.T) {
	addr := startBroker(t)
	for qos := range 3 {
		t.Run(result.Result{QoS: qos, Pairs: 3, Size: 64}.Scenario(), func(t *testing.T) {
			cfg := config{
				addr: addr, pairs: 3, qos: qos, size: 64, count: 300, inflight: 16,
				timeout: 30 * time.Second, idle: time.Second, stall: 10 * time.Second,
				label: "test", runID: newRunID(),
			}
			res, err := run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("run: %v (result %+v)", err, res)
			}
			if res.Sent != 900 || res.Received != 900 || res.Missing != 0 {
				t.Errorf("sent %d received %d missing %d, want 900 900 0", res.Sent, res.Received, res.Missing)
			}
			if res.MsgPerSec <= 0 || res.DurationS <= 0 || res.P50Ms > res.P99Ms || res.P99Ms > res.MaxMs {
				t.Errorf("implausible figures: %+v", res)
			}
		})
	}
}

func TestRunFailsWithoutBroker(t *testing.T) {
	cfg := config{
		addr: "127.0.0.1:1", pairs: 1, qos: 1, size: 16, count: 1, inflight: 1,
		timeout: 5 * time.Second, idle: time.Second, stall: time.Second, runID: "x",
	}
	res, err := run(context.Background(), cfg)
	if err == nil || res.Missing != 1 {
		t.Fatalf("err = %v, missing = %d; want a connect error and 1 missing", err, res.Missing)
	}
}

func TestVerdict(t *testing.T) {
	errPub := errors.New("publish failed")
	stalled := errors.Join(errStalled)
	cases := []struct {
		name    string
		res     result.Result
		waitErr error
		pubErr  error
		want    []error // every one must match; none means success
	}{
		{"qos1 complete", result.Result{QoS: 1, Expected: 10}, nil, nil, nil},
		{"qos0 loss is allowed", result.Result{QoS: 0, Expected: 10, Missing: 3}, nil, nil, nil},
		{"qos0 deadline fails", result.Result{QoS: 0, Expected: 10, Missing: 3}, context.DeadlineExceeded, nil, []error{context.DeadlineExceeded}},
		{"qos1 loss fails", result.Result{QoS: 1, Expected: 10, Missing: 3}, stalled, nil, []error{errMissing, errStalled}},
		{"qos2 loss after deadline", result.Result{QoS: 2, Expected: 10, Missing: 1}, context.DeadlineExceeded, nil, []error{errMissing, context.DeadlineExceeded}},
		{"publisher error fails", result.Result{QoS: 1, Expected: 10, Missing: 10}, nil, errPub, []error{errMissing, errPub}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := verdict(tc.res, tc.waitErr, tc.pubErr)
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want it to match %v", err, w)
				}
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	if err := summarize([]error{nil, nil}); err != nil {
		t.Fatalf("no failures: err = %v", err)
	}
	first, second := errors.New("first"), errors.New("second")
	err := summarize([]error{nil, first, nil, second})
	if !errors.Is(err, first) || err.Error() != "2 of 4 publishers failed, first: first" {
		t.Fatalf("err = %v", err)
	}
}
