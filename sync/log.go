package sync

import (
	gosync "sync"

	"github.com/triadmq/triad/sync/state"
)

// Log keeps the leader's most recent entries in memory so that a follower
// that is a little behind gets entries, not a snapshot. It is fed by the
// committer (CommitterOptions.OnAppend) and read by every follower stream.
type Log struct {
	maxEntries int
	maxBytes   int

	mu        gosync.Mutex
	entries   []state.Entry // consecutive indexes, oldest first
	bytes     int
	base      uint64 // index of the entry before entries[0]
	baseEpoch int64  // its epoch
	changed   chan struct{}
}

// NewLog starts an empty log after the entry at index base of epoch
// baseEpoch (the store's applied index and epoch).
func NewLog(base uint64, baseEpoch int64, maxEntries, maxBytes int) *Log {
	return &Log{maxEntries: maxEntries, maxBytes: maxBytes, base: base, baseEpoch: baseEpoch,
		changed: make(chan struct{})}
}

// Add adds one entry (CommitterOptions.OnAppend); see Append.
func (l *Log) Add(e state.Entry) { l.Append([]state.Entry{e}) }

// Append adds entries, which must continue the log, and drops the oldest
// beyond the bounds. Fed at append time, the log runs ahead of the
// leader's disk: followers write in parallel with it, and the quorum still
// waits for the leader's own durable index.
func (l *Log) Append(entries []state.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		l.entries = append(l.entries, e)
		l.bytes += entrySize(e)
	}
	for len(l.entries) > 1 && (len(l.entries) > l.maxEntries || l.bytes > l.maxBytes) {
		old := l.entries[0]
		l.base, l.baseEpoch = old.Index, old.Epoch
		l.bytes -= entrySize(old)
		l.entries[0] = state.Entry{}
		l.entries = l.entries[1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Last is the index of the newest entry.
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base + uint64(len(l.entries))
}

// Changed is closed when entries are next appended.
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Continues reports whether a follower standing at entry idx of epoch can
// continue from this log: the log holds idx (or idx is its base) with the
// same epoch. Otherwise the follower needs a snapshot: it is too far
// behind, or it holds entries this leader never had.
func (l *Log) Continues(idx uint64, epoch int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case idx == l.base:
		return epoch == l.baseEpoch
	case idx < l.base || idx > l.base+uint64(len(l.entries)):
		return false
	}
	return l.entries[idx-l.base-1].Epoch == epoch
}

// From returns up to max entries from index idx on; ok is false when idx
// is no longer in the log.
func (l *Log) From(idx uint64, max int) (entries []state.Entry, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if idx <= l.base {
		return nil, false
	}
	start := idx - l.base - 1
	if start >= uint64(len(l.entries)) {
		return nil, true
	}
	end := min(uint64(len(l.entries)), start+uint64(max))
	return append([]state.Entry(nil), l.entries[start:end]...), true
}

// entrySize estimates the memory an entry holds.
func entrySize(e state.Entry) int {
	n := 64
	for i := range e.Ops {
		n += 128
		if m := e.Ops[i].Msg; m != nil {
			n += len(m.Payload) + len(m.Topic)
		}
	}
	return n
}
