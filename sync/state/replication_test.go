package state

import (
	"errors"
	"reflect"
	"testing"
)

// The epoch of each entry is kept with the applied index, survives a
// reopen, and never goes down.
func TestAppliedEpoch(t *testing.T) {
	s, dir := newStore(t)
	if err := s.Apply([]Entry{{Index: 1, Epoch: 3, Ops: []Op{putSession("a")}}, {Index: 2, Epoch: 5, Ops: []Op{putSession("b")}}}); err != nil {
		t.Fatal(err)
	}
	err := s.Apply([]Entry{{Index: 3, Epoch: 4, Ops: []Op{putSession("c")}}})
	if !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("entry of epoch 4 after epoch 5: %v, want ErrStaleEpoch", err)
	}
	if s.Applied() != 2 || s.AppliedEpoch() != 5 {
		t.Fatalf("applied %d epoch %d after a refused entry, want 2 and 5", s.Applied(), s.AppliedEpoch())
	}
	closeStore(t, s)
	s = openStore(t, dir)
	if s.Applied() != 2 || s.AppliedEpoch() != 5 || mustLoad(t, s).AppliedEpoch != 5 {
		t.Fatalf("after reopen: applied %d epoch %d", s.Applied(), s.AppliedEpoch())
	}
}

// A snapshot's ops rebuild an identical state in another store, replacing
// whatever it held.
func TestSnapshotOpsReplace(t *testing.T) {
	src, _ := newStore(t)
	mustApply(t, src,
		[]Op{putSession("a"), putSub("a", "x/#"), putSession("b")},
		[]Op{acceptMsg(1), putDeliv("a", 1, DeliveryPublish), putDeliv("b", 1, DeliveryPubrel)},
		[]Op{acceptMsg(2), putDeliv("a", 2, DeliveryPublish), routeMsg(2)},
		[]Op{doneDeliv("b", 1)}, // message 1 unrouted: its delivery stays, done
		[]Op{putInbound("a", 7), putRetained("r/1"), putRetained("r/2")},
	)
	want := mustLoad(t, src)

	dst, _ := newStore(t)
	mustApply(t, dst, []Op{putSession("stale"), putRetained("stale/topic"), acceptMsg(99)})
	if err := dst.Replace(want.Applied, 6, want.MsgSeq, want.Ops()); err != nil {
		t.Fatal(err)
	}
	got := mustLoad(t, dst)
	want.AppliedEpoch = 6
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replaced state differs:\n got %+v\nwant %+v", viewOf(got), viewOf(want))
	}
	if dst.Applied() != want.Applied || dst.AppliedEpoch() != 6 {
		t.Fatalf("after Replace: applied %d epoch %d", dst.Applied(), dst.AppliedEpoch())
	}
	checkInvariants(t, dst)
	// It goes on from there.
	if err := dst.Apply([]Entry{{Index: want.Applied + 1, Epoch: 6, Ops: []Op{putSession("next")}}}); err != nil {
		t.Fatal(err)
	}
}

// The committer stamps its epoch on entries and feeds OnApplied before the
// durable index moves.
func TestCommitterEpochAndOnApplied(t *testing.T) {
	s, _ := newStore(t)
	var seen []Entry
	var c *Committer
	c = NewCommitter(s, CommitterOptions{OnApplied: func(b []Entry) {
		for _, e := range b {
			if c.Durable() >= e.Index {
				t.Errorf("entry %d fed after it was reported durable", e.Index)
			}
		}
		seen = append(seen, b...)
	}})
	c.SetEpoch(8)
	c.SetEpoch(2) // ignored: epochs never go down
	idx, err := c.Append(putSession("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Index != idx || seen[0].Epoch != 8 {
		t.Fatalf("OnApplied saw %+v, want entry %d of epoch 8", seen, idx)
	}
	if s.AppliedEpoch() != 8 {
		t.Fatalf("store epoch %d, want 8", s.AppliedEpoch())
	}
}
