package main

import (
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

	t.Run("acknowledged and delivered", func(t *testing.T) {
		r := newRecorder(3)
		for seq := range 3 {
			r.ack(seq)
			r.receive(t0, uint64(seq), ms(10*(seq+1)))
		}
		select {
		case <-r.done:
		default:
			t.Fatal("done not closed after every message came back")
		}
		got := r.tally()
		if got.acked != 3 || got.delivered != 3 || got.lost != 0 || got.dups != 0 || !got.lastRecv.Equal(ms(30)) {
			t.Fatalf("tally = %+v", got)
		}
	})
	t.Run("an acknowledged message that never came back is lost", func(t *testing.T) {
		r := newRecorder(3)
		r.ack(0)
		r.ack(1)
		r.receive(t0, 0, ms(5))
		r.receive(t0, 2, ms(6)) // delivered though its PUBACK never came: not lost
		if got := r.tally(); got.acked != 2 || got.delivered != 2 || got.lost != 1 {
			t.Fatalf("tally = %+v; want acked 2 delivered 2 lost 1", got)
		}
	})
	t.Run("a second arrival is a duplicate, not a delivery", func(t *testing.T) {
		r := newRecorder(2)
		r.receive(t0, 1, ms(1))
		r.receive(t0, 1, ms(2))
		got := r.tally()
		if got.delivered != 1 || got.dups != 1 || len(got.lat) != 1 || got.lat[0] != time.Millisecond {
			t.Fatalf("tally = %+v", got)
		}
	})
	t.Run("an ack counts once and out-of-range numbers are ignored", func(t *testing.T) {
		r := newRecorder(2)
		r.ack(0)
		r.ack(0)
		r.ack(-1)
		r.ack(2)
		r.receive(t0, 2, ms(1))
		if got := r.tally(); got.acked != 1 || got.delivered != 0 {
			t.Fatalf("tally = %+v", got)
		}
	})
}

func TestSummarize(t *testing.T) {
	lc := loadConfig{clients: 3, count: 100}
	first := time.Unix(2000, 0)
	lats := func(from, n int) []time.Duration { // from, from+1, ... ms
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(from+i) * time.Millisecond
		}
		return out
	}
	t.Run("percentiles over every client's messages", func(t *testing.T) {
		// 100 latencies in all, 1..100 ms, split unevenly and unsorted
		// over the clients: p50 50 ms, p99 99 ms, max 100 ms.
		ts := []tally{
			{acked: 100, delivered: 60, lat: lats(41, 60), lastRecv: first.Add(2 * time.Second)},
			{acked: 30, delivered: 30, lat: lats(1, 30), lastRecv: first.Add(4 * time.Second)},
			{acked: 10, delivered: 10, lat: lats(31, 10), lastRecv: first.Add(time.Second)},
		}
		got := summarize(lc, ts, first)
		if got.P50Ms != 50 || got.P99Ms != 99 || got.MaxMs != 100 {
			t.Errorf("p50/p99/max = %v/%v/%v ms; want 50/99/100", got.P50Ms, got.P99Ms, got.MaxMs)
		}
		if got.Clients != 3 || got.Messages != 300 || got.Acked != 140 || got.Delivered != 100 {
			t.Errorf("counts = %+v", got)
		}
		// 100 delivered from the first publish to the last delivery, 4 s.
		if got.DurationS != 4 || got.MsgPerSec != 25 {
			t.Errorf("duration %v s, %v msg/s; want 4 s, 25 msg/s", got.DurationS, got.MsgPerSec)
		}
	})
	t.Run("lost and duplicates add up", func(t *testing.T) {
		ts := []tally{{acked: 5, delivered: 3, lost: 2, dups: 1, lat: lats(1, 3), lastRecv: first.Add(time.Second)}, {lost: 1, dups: 2}}
		if got := summarize(lc, ts, first); got.Lost != 3 || got.Duplicates != 3 {
			t.Errorf("lost %d dups %d; want 3 and 3", got.Lost, got.Duplicates)
		}
	})
	t.Run("nothing published gives no rate", func(t *testing.T) {
		got := summarize(lc, nil, time.Time{})
		if got.MsgPerSec != 0 || got.DurationS != 0 || got.P50Ms != 0 || got.Messages != 300 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("no rate without a first publish time", func(t *testing.T) {
		ts := []tally{{delivered: 1, lat: lats(1, 1), lastRecv: first}}
		if got := summarize(lc, ts, time.Time{}); got.MsgPerSec != 0 {
			t.Errorf("msg/s %v; want 0", got.MsgPerSec)
		}
	})
}
