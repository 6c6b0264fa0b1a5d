package main

import (
	"context"
	"errors"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/triadmq/triad/bench/internal/stamp"
)

// fakeMessage is the part of mqtt.Message the subscriber reads.
type fakeMessage struct {
	mqtt.Message
	payload []byte
}

func (m fakeMessage) Payload() []byte { return m.payload }

func deliver(s *subscriber, seqs ...int) {
	for _, seq := range seqs {
		s.onMessage(nil, fakeMessage{payload: stamp.Encode(stamp.HeaderLen, time.Now(), seq)})
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestSubscriberCountsDistinctMessages(t *testing.T) {
	s := newRecorder(3)
	deliver(s, 0, 1, 1, 7) // 1 is a duplicate, 7 out of range
	s.onMessage(nil, fakeMessage{payload: []byte("short")})
	if got := s.received(); got != 2 {
		t.Fatalf("received = %d, want 2", got)
	}
	if isClosed(s.done) {
		t.Fatal("done closed before every message arrived")
	}
	deliver(s, 2, 2)
	if !isClosed(s.done) {
		t.Fatal("done not closed after every message arrived")
	}
	st := s.stats()
	if len(st.lat) != 3 || st.dups != 2 || st.lastRecv.IsZero() {
		t.Fatalf("stats = %d latencies, %d dups, last %v; want 3, 2, set", len(st.lat), st.dups, st.lastRecv)
	}
}

func TestWaitForReceipt(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	open := make(chan struct{})
	errBoom := errors.New("boom")
	cases := []struct {
		name     string
		complete bool          // deliver every message before waiting
		pubsDone chan struct{} // closed: publishing over
		rule     quietRule
		want     error
	}{
		{"every message arrived", true, open, quietRule{}, nil},
		{"quiet spell after publishing ends the wait", false, closed, quietRule{after: 20 * time.Millisecond}, nil},
		{"quiet spell returns the rule's error", false, closed, quietRule{after: 20 * time.Millisecond, err: errBoom}, errBoom},
		{"deadline while still publishing", false, open, quietRule{}, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			s := newRecorder(2)
			deliver(s, 0)
			if tc.complete {
				deliver(s, 1)
			}
			err := waitForReceipt(ctx, []*subscriber{s}, tc.pubsDone, func() quietRule { return tc.rule })
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
