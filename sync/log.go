package sync

import (
	"fmt"
	gosync "sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/triadmq/triad/sync/state"
)

// Log keeps the leader's most recent entries in memory so that a follower
// that is a little behind gets entries, not a snapshot. It is fed by the
// committer (CommitterOptions.OnAppend) and read by every follower stream.
type Log struct {
	maxEntries int
	maxBytes   int

	mu        gosync.Mutex
	entries   []*logEntry // consecutive indexes, oldest first
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
		l.entries = append(l.entries, &logEntry{Entry: e})
		l.bytes += entrySize(e)
	}
	for len(l.entries) > 1 && (len(l.entries) > l.maxEntries || l.bytes > l.maxBytes) {
		old := l.entries[0].Entry
		l.base, l.baseEpoch = old.Index, old.Epoch
		l.bytes -= entrySize(old)
		l.entries[0] = nil
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

// logEntry is an entry of the log and its protobuf encoding, made once by
// whichever follower stream needs it first and shared by the others.
type logEntry struct {
	state.Entry
	once gosync.Once
	enc  []byte
	err  error
}

// encoded returns the entry encoded as a pb.Entry.
func (e *logEntry) encoded() ([]byte, error) {
	e.once.Do(func() {
		pe, err := EntryToPB(e.Index, e.Epoch, e.Ops)
		if err == nil {
			e.enc, err = proto.Marshal(pe)
		}
		if err != nil {
			e.err = fmt.Errorf("encode entry %d: %w", e.Index, err)
		}
	})
	return e.enc, e.err
}

// From returns up to max entries from index idx on; ok is false when idx
// is no longer in the log.
func (l *Log) From(idx uint64, max int) (entries []state.Entry, ok bool) {
	window, ok := l.window(idx, max)
	if len(window) > 0 {
		entries = make([]state.Entry, 0, len(window))
		for _, e := range window {
			entries = append(entries, e.Entry)
		}
	}
	return entries, ok
}

// window copies out up to max log entries from index idx on; ok is false
// when idx is no longer in the log.
func (l *Log) window(idx uint64, max int) (window []*logEntry, ok bool) {
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
	return append([]*logEntry(nil), l.entries[start:end]...), true
}

// encodedFrom is From for a leader's stream: up to max entries from idx
// on, but no more than maxBytes of them encoded (at least one), returned
// as an encoded pb.Entries; n is how many it holds, last the index of the
// last one. Each entry is encoded once for all the streams that read it.
func (l *Log) encodedFrom(idx uint64, max, maxBytes int) (body []byte, n int, last uint64, ok bool, err error) {
	window, ok := l.window(idx, max)
	encs := make([][]byte, 0, len(window))
	size := 0
	for _, e := range window { // encoded outside the lock: the committer appends meanwhile
		enc, err := e.encoded()
		if err != nil {
			return nil, 0, 0, true, err
		}
		field := protowire.SizeTag(1) + protowire.SizeBytes(len(enc))
		if len(encs) > 0 && size+field > maxBytes {
			break
		}
		encs, size = append(encs, enc), size+field
	}
	body = make([]byte, 0, size)
	for _, enc := range encs {
		body = protowire.AppendTag(body, 1, protowire.BytesType) // pb.Entries.entries
		body = protowire.AppendBytes(body, enc)
	}
	if n = len(encs); n > 0 {
		last = window[n-1].Index
	}
	return body, n, last, ok, nil
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
