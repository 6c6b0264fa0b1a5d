package sync

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// logWithEveryOp holds entries 1..n, each with one op of every kind.
func logWithEveryOp(t *testing.T, n int) *Log {
	t.Helper()
	l := NewLog(0, 0, 1000, 1<<30)
	for i := 1; i <= n; i++ {
		var ops []state.Op
		for _, c := range opCases() {
			ops = append(ops, c.op)
		}
		l.Add(state.Entry{Index: uint64(i), Epoch: 7, Ops: ops})
	}
	return l
}

// TestEncodedEntriesAreALeaderMessage checks the wire contract of the
// leader's stream: what it sends (LeaderEntriesEncoded) decodes, as the
// follower decodes it, to the LeaderMessage of the same entries.
func TestEncodedEntriesAreALeaderMessage(t *testing.T) {
	l := logWithEveryOp(t, 5)
	body, n, last, ok, err := l.encodedFrom(2, 3, 1<<20)
	if err != nil || !ok || n != 3 || last != 4 {
		t.Fatalf("encodedFrom(2, 3) = %d entries, last %d, ok %v, err %v; want 3, 4, true, nil", n, last, ok, err)
	}
	wire, err := proto.Marshal(&pb.LeaderEntriesEncoded{Epoch: 9, Entries: body})
	if err != nil {
		t.Fatal(err)
	}
	var got pb.LeaderMessage
	if err := proto.Unmarshal(wire, &got); err != nil {
		t.Fatalf("decode as LeaderMessage: %v", err)
	}
	want := &pb.LeaderMessage{Epoch: 9, Body: &pb.LeaderMessage_Entries{Entries: &pb.Entries{}}}
	entries, _ := l.From(2, 3)
	for _, e := range entries {
		pe, err := EntryToPB(e.Index, e.Epoch, e.Ops)
		if err != nil {
			t.Fatal(err)
		}
		want.GetEntries().Entries = append(want.GetEntries().Entries, pe)
	}
	if !proto.Equal(&got, want) {
		t.Fatalf("decoded message differs:\n got %v\nwant %v", &got, want)
	}
	for i, pe := range got.GetEntries().GetEntries() {
		back, err := EntryFromPB(pe)
		if err != nil || back.Index != uint64(i+2) || len(back.Ops) != len(opCases()) {
			t.Fatalf("entry %d decodes to index %d with %d ops (err %v)", i, back.Index, len(back.Ops), err)
		}
	}
}

// TestEncodedFromBounds checks the message bounds: bytes cut a batch
// (but never below one entry), a dropped index is not ok, the tail is
// empty, and an entry is encoded once for every stream.
func TestEncodedFromBounds(t *testing.T) {
	l := logWithEveryOp(t, 10)
	one, n, _, _, err := l.encodedFrom(1, 10, 1)
	if err != nil || n != 1 {
		t.Fatalf("encodedFrom with a 1-byte bound = %d entries (err %v); want exactly 1", n, err)
	}
	_, n, last, _, err := l.encodedFrom(1, 10, 3*len(one)+2)
	if err != nil || n != 3 || last != 3 {
		t.Fatalf("encodedFrom with room for 3 = %d entries up to %d (err %v); want 3 up to 3", n, last, err)
	}
	if _, n, _, ok, err := l.encodedFrom(11, 10, 1<<20); err != nil || !ok || n != 0 {
		t.Fatalf("encodedFrom at the tail = %d entries, ok %v, err %v; want none, ok", n, ok, err)
	}
	small := NewLog(0, 0, 2, 1<<30)
	small.Append([]state.Entry{{Index: 1, Epoch: 1}, {Index: 2, Epoch: 1}, {Index: 3, Epoch: 1}})
	if _, _, _, ok, _ := small.encodedFrom(1, 10, 1<<20); ok {
		t.Fatal("encodedFrom(1) ok after entry 1 was dropped")
	}

	l.mu.Lock()
	first := l.entries[0]
	l.mu.Unlock()
	a, _ := first.encoded()
	b, _ := first.encoded()
	if len(a) == 0 || &a[0] != &b[0] {
		t.Fatal("an entry was encoded again for a second stream")
	}
}

// TestEncodedFromReportsBadEntry checks that an entry that cannot be
// encoded is an error naming it, not a silently shorter batch.
func TestEncodedFromReportsBadEntry(t *testing.T) {
	l := NewLog(0, 0, 10, 1<<30)
	l.Add(state.Entry{Index: 1, Epoch: 1, Ops: []state.Op{{Kind: state.OpSessionPut}}}) // no session
	_, _, _, _, err := l.encodedFrom(1, 10, 1<<20)
	if err == nil || !strings.Contains(err.Error(), "entry 1") {
		t.Fatalf("encodedFrom of an invalid entry: err %v; want one naming entry 1", err)
	}
}
