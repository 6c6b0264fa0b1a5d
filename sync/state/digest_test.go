package state

import "testing"

func mustDigest(t *testing.T, s *Store) Digest {
	t.Helper()
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDigest: the same entries give the same digest on two stores, a
// snapshot installed by Replace gives the source's digest, and one more
// change anywhere gives another.
func TestDigest(t *testing.T) {
	entries := [][]Op{
		{putSession("a"), putSub("a", "x/#"), putSession("b")},
		{acceptMsg(1), putDeliv("a", 1, DeliveryPublish), putDeliv("b", 1, DeliveryPubrel)},
		{putInbound("a", 7), putRetained("r/1")},
	}
	one, _ := newStore(t)
	two, _ := newStore(t)
	mustApply(t, one, entries...)
	mustApply(t, two, entries...)
	d1, d2 := mustDigest(t, one), mustDigest(t, two)
	if d1 != d2 {
		t.Fatalf("same entries, different digests:\n%+v\n%+v", d1, d2)
	}
	if d1.Applied != 3 || d1.Records == 0 || len(d1.SHA256) != 64 {
		t.Fatalf("digest %+v: want applied 3, records, a sha256", d1)
	}

	snap := mustLoad(t, one)
	three, _ := newStore(t)
	mustApply(t, three, []Op{putSession("stale"), acceptMsg(99)}) // a deposed leader's unreplicated tail
	if err := three.Replace(snap.Applied, snap.AppliedEpoch, snap.MsgSeq, snap.Ops()); err != nil {
		t.Fatal(err)
	}
	if d3 := mustDigest(t, three); d3 != d1 {
		t.Fatalf("replaced from a snapshot: digest %+v, want %+v", d3, d1)
	}
	// ... and stays the same as the source's through the next entries.
	next := []Op{putSession("after")}
	mustApply(t, one, next)
	mustApply(t, three, next)
	if d1, d3 := mustDigest(t, one), mustDigest(t, three); d3 != d1 {
		t.Fatalf("after one more entry: digest %+v, want %+v", d3, d1)
	}

	mustApply(t, two, []Op{putRetained("r/2")})
	if d := mustDigest(t, two); d.SHA256 == d1.SHA256 {
		t.Fatalf("a retained message more did not change the digest")
	}
}
