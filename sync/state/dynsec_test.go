package state

import (
	"bytes"
	"testing"
)

// TestDynsecConfigReplicates checks the dynamic-security configuration as
// state: the latest put wins, it survives a reopen, a snapshot carries it
// to a replaced store, and it is part of the digest.
func TestDynsecConfigReplicates(t *testing.T) {
	first, second := []byte(`{"clients":[{"username":"a"}]}`), []byte(`{"clients":[{"username":"b"}]}`)
	s, dir := newStore(t)
	if snap := mustLoad(t, s); snap.Dynsec != nil {
		t.Fatalf("a new store has a dynsec configuration: %q", snap.Dynsec)
	}
	before := mustDigest(t, s)
	mustApply(t, s, []Op{{Kind: OpDynsecPut, Dynsec: first}}, []Op{{Kind: OpDynsecPut, Dynsec: second}})
	if got := mustLoad(t, s).Dynsec; !bytes.Equal(got, second) {
		t.Fatalf("after two puts: %q, want the second %q", got, second)
	}
	if d := mustDigest(t, s); d.SHA256 == before.SHA256 {
		t.Fatal("the digest ignores the dynsec configuration")
	}
	closeStore(t, s)
	s = openStore(t, dir)
	snap := mustLoad(t, s)
	if !bytes.Equal(snap.Dynsec, second) {
		t.Fatalf("after a reopen: %q, want %q", snap.Dynsec, second)
	}

	other, _ := newStore(t)
	mustApply(t, other, []Op{{Kind: OpDynsecPut, Dynsec: first}})
	if err := other.Replace(snap.Applied, snap.AppliedEpoch, snap.MsgSeq, snap.Ops()); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, other).Dynsec; !bytes.Equal(got, second) {
		t.Fatalf("replaced from a snapshot: %q, want %q", got, second)
	}
	if a, b := mustDigest(t, s), mustDigest(t, other); a != b {
		t.Fatalf("snapshot copy differs: %+v vs %+v", a, b)
	}
}
