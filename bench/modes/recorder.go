package main

import (
	"sync"
	"time"
)

// recorder is what one loopback client saw of its own messages, by
// sequence number: which publishes the broker acknowledged (PUBACK) and
// which messages came back, with their publish-to-receipt latency. Safe
// for concurrent use: acks are recorded by the publishing goroutine,
// receipts by paho's router.
type recorder struct {
	done chan struct{} // closed once every sequence number has come back

	mu       sync.Mutex
	acked    []bool // by sequence number
	seen     []bool // by sequence number
	lat      []time.Duration
	nAcked   int
	dups     int
	lastRecv time.Time // receipt time of the latest distinct message
}

// newRecorder expects sequence numbers 0..count-1.
func newRecorder(count int) *recorder {
	return &recorder{
		done:  make(chan struct{}),
		acked: make([]bool, count),
		seen:  make([]bool, count),
		lat:   make([]time.Duration, 0, count),
	}
}

// ack records that the broker acknowledged publish seq.
func (r *recorder) ack(seq int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < 0 || seq >= len(r.acked) || r.acked[seq] {
		return
	}
	r.acked[seq] = true
	r.nAcked++
}

// receive records message seq, sent at sent, arriving at now. A sequence
// number out of range is not one of this run's and is ignored; a second
// arrival is counted as a duplicate.
func (r *recorder) receive(sent time.Time, seq uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq >= uint64(len(r.seen)) {
		return
	}
	if r.seen[seq] {
		r.dups++
		return
	}
	r.seen[seq] = true
	r.lat = append(r.lat, now.Sub(sent))
	r.lastRecv = now
	if len(r.lat) == len(r.seen) {
		close(r.done)
	}
}

// received is the number of distinct messages so far.
func (r *recorder) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lat)
}

// tally is a snapshot of a recorder.
type tally struct {
	acked, delivered, lost, dups int
	lat                          []time.Duration // a copy, one per distinct message
	lastRecv                     time.Time
}

// tally counts what the recorder holds. lost is the acknowledged
// publishes that never came back: the figure the run fails on.
func (r *recorder) tally() tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := tally{acked: r.nAcked, delivered: len(r.lat), dups: r.dups, lastRecv: r.lastRecv,
		lat: append([]time.Duration(nil), r.lat...)}
	for seq, a := range r.acked {
		if a && !r.seen[seq] {
			t.lost++
		}
	}
	return t
}
