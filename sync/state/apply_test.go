package state

import (
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// applyCase applies entries to a fresh store and compares the result.
type applyCase struct {
	name    string
	entries [][]Op
	want    view
	check   func(t *testing.T, snap *Snapshot) // optional, for record contents
}

func runApplyCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			mustApply(t, s, tc.entries...)
			checkView(t, s, tc.want)
			if tc.check != nil {
				tc.check(t, mustLoad(t, s))
			}
		})
	}
}

func TestApplySessions(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name:    "put",
			entries: [][]Op{{putSession("a")}},
			want:    view{Sessions: []string{"a"}},
		},
		{
			name: "put replaces",
			entries: [][]Op{
				{{Kind: OpSessionPut, Session: &Session{ClientID: "a", Listener: "l1"}}},
				{{Kind: OpSessionPut, Session: &Session{ClientID: "a", Listener: "l2"}}},
			},
			want: view{Sessions: []string{"a"}},
			check: func(t *testing.T, snap *Snapshot) {
				if got := snap.Sessions[0].Listener; got != "l2" {
					t.Errorf("listener = %q, want the replacement's l2", got)
				}
			},
		},
		{
			name:    "delete",
			entries: [][]Op{{putSession("a"), putSession("b")}, {delSession("a")}},
			want:    view{Sessions: []string{"b"}},
		},
		{
			name:    "delete unknown is a no-op",
			entries: [][]Op{{putSession("a")}, {delSession("zz")}},
			want:    view{Sessions: []string{"a"}},
		},
		{
			name: "delete removes subs inbound and deliveries",
			entries: [][]Op{
				{putSession("a"), putSub("a", "x"), putSub("a", "y/#"), putInbound("a", 1), putInbound("a", 2)},
				{acceptMsg(1), acceptMsg(2), putDeliv("a", 1, DeliveryPublish), putDeliv("a", 2, DeliveryPubrel)},
				{delSession("a")},
			},
			// The messages are unrouted: a replayed fan-out still needs them.
			want: view{Msgs: []string{"1", "2"}},
		},
		{
			name: "delete collects routed messages only it referenced",
			entries: [][]Op{
				{putSession("a"), putSession("b")},
				{acceptMsg(1), acceptMsg(2), acceptMsg(3)},
				{putDeliv("a", 1, DeliveryPublish), putDeliv("a", 2, DeliveryPubrel), putDeliv("b", 2, DeliveryPublish)},
				{putDeliv("a", 3, DeliveryPublish)},
				{routeMsg(1), routeMsg(2)},
				{delSession("a")},
			},
			want: view{
				Sessions:   []string{"b"},
				Msgs:       []string{"2 routed", "3"},
				Deliveries: []string{"b 2 publish"},
			},
		},
		{
			name: "delete drops its done marker and the message stays for others",
			entries: [][]Op{
				{acceptMsg(1), putDeliv("a", 1, DeliveryPublish), putDeliv("b", 1, DeliveryPublish)},
				{doneDeliv("a", 1)},
				{delSession("a")},
				{routeMsg(1)},
			},
			want: view{Msgs: []string{"1 routed"}, Deliveries: []string{"b 1 publish"}},
		},
		{
			name: "delete drops the last reference of a routed message",
			entries: [][]Op{
				{acceptMsg(1), putDeliv("a", 1, DeliveryPubrel), routeMsg(1)},
				{delSession("a")},
			},
			want: view{},
		},
	})
}

// TestApplyClientIDPrefix uses client ids where one is a prefix of the other
// ("a" and "ab"), and sub keys that would collide without the length prefix
// ("a"+"bx" and "ab"+"x").
func TestApplyClientIDPrefix(t *testing.T) {
	both := [][]Op{
		{putSession("a"), putSession("ab")},
		{putSub("a", "bx"), putSub("ab", "x"), putSub("a", "x"), putSub("ab", "bx")},
		{putInbound("a", 1), putInbound("ab", 1), putInbound("a", 0x6200)},
		{acceptMsg(1), acceptMsg(2), putDeliv("a", 1, DeliveryPublish), putDeliv("ab", 1, DeliveryPublish)},
		{putDeliv("ab", 2, DeliveryPublish), routeMsg(1), routeMsg(2)},
	}
	with := func(more ...[]Op) [][]Op { return append(append([][]Op{}, both...), more...) }
	abOnly := view{
		Sessions:   []string{"ab"},
		Subs:       []string{"ab bx", "ab x"},
		Msgs:       []string{"1 routed", "2 routed"},
		Deliveries: []string{"ab 1 publish", "ab 2 publish"},
		Inbound:    []string{"ab 1"},
	}
	runApplyCases(t, []applyCase{
		{
			name:    "all records are distinct",
			entries: both,
			want: view{
				Sessions:   []string{"a", "ab"},
				Subs:       []string{"a bx", "a x", "ab bx", "ab x"},
				Msgs:       []string{"1 routed", "2 routed"},
				Deliveries: []string{"a 1 publish", "ab 1 publish", "ab 2 publish"},
				Inbound:    []string{"a 1", "a 25088", "ab 1"},
			},
		},
		{
			name:    "deleting a keeps ab",
			entries: with([]Op{delSession("a")}),
			want:    abOnly,
		},
		{
			name:    "deleting ab keeps a",
			entries: with([]Op{delSession("ab")}),
			want: view{
				Sessions:   []string{"a"},
				Subs:       []string{"a bx", "a x"},
				Msgs:       []string{"1 routed"},
				Deliveries: []string{"a 1 publish"},
				Inbound:    []string{"a 1", "a 25088"},
			},
		},
		{
			name:    "sub delete of a bx keeps ab x",
			entries: with([]Op{delSub("a", "bx")}),
			want: view{
				Sessions:   []string{"a", "ab"},
				Subs:       []string{"a x", "ab bx", "ab x"},
				Msgs:       []string{"1 routed", "2 routed"},
				Deliveries: []string{"a 1 publish", "ab 1 publish", "ab 2 publish"},
				Inbound:    []string{"a 1", "a 25088", "ab 1"},
			},
		},
		{
			name:    "inbound delete of a keeps ab",
			entries: with([]Op{delInbound("a", 1), delInbound("a", 0x6200)}),
			want: view{
				Sessions:   []string{"a", "ab"},
				Subs:       []string{"a bx", "a x", "ab bx", "ab x"},
				Msgs:       []string{"1 routed", "2 routed"},
				Deliveries: []string{"a 1 publish", "ab 1 publish", "ab 2 publish"},
				Inbound:    []string{"ab 1"},
			},
		},
		{
			name:    "delivery done of a keeps ab",
			entries: with([]Op{doneDeliv("a", 1), delSub("a", "bx"), delSub("a", "x"), delInbound("a", 1), delInbound("a", 0x6200), delSession("a")}),
			want:    abOnly,
		},
	})
}

func TestApplySubs(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name:    "put",
			entries: [][]Op{{putSub("a", "x/+")}},
			want:    view{Subs: []string{"a x/+"}},
		},
		{
			name: "put replaces",
			entries: [][]Op{
				{putSub("a", "x")},
				{{Kind: OpSubPut, Sub: &Subscription{ClientID: "a", Filter: "x", QoS: 2, Identifier: 5}}},
			},
			want: view{Subs: []string{"a x"}},
			check: func(t *testing.T, snap *Snapshot) {
				want := Subscription{ClientID: "a", Filter: "x", QoS: 2, Identifier: 5}
				if !reflect.DeepEqual(snap.Subs[0], want) {
					t.Errorf("sub = %+v, want %+v", snap.Subs[0], want)
				}
			},
		},
		{
			name:    "delete one filter",
			entries: [][]Op{{putSub("a", "x"), putSub("a", "y"), putSub("b", "x")}, {delSub("a", "x")}},
			want:    view{Subs: []string{"a y", "b x"}},
		},
		{
			name:    "delete unknown is a no-op",
			entries: [][]Op{{putSub("a", "x")}, {delSub("a", "z"), delSub("c", "x")}},
			want:    view{Subs: []string{"a x"}},
		},
		{
			name:    "subs need no session",
			entries: [][]Op{{putSub("a", "x")}, {delSession("a")}},
			want:    view{},
		},
	})
}

func TestApplyRetained(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name:    "put",
			entries: [][]Op{{putRetained("a/b"), putRetained("a")}},
			want:    view{Retained: []string{"a", "a/b"}},
		},
		{
			name: "put replaces",
			entries: [][]Op{
				{putRetained("a")},
				{{Kind: OpRetainedPut, Msg: &Message{Topic: "a", Payload: []byte("second"), Retain: true}}},
			},
			want: view{Retained: []string{"a"}},
			check: func(t *testing.T, snap *Snapshot) {
				if got := string(snap.Retained[0].Payload); got != "second" {
					t.Errorf("payload = %q, want second", got)
				}
			},
		},
		{
			name:    "delete",
			entries: [][]Op{{putRetained("a"), putRetained("a/b")}, {delRetained("a")}},
			want:    view{Retained: []string{"a/b"}},
		},
		{
			name:    "delete unknown is a no-op",
			entries: [][]Op{{putRetained("a")}, {delRetained("b")}},
			want:    view{Retained: []string{"a"}},
		},
		{
			name:    "independent of accepted messages",
			entries: [][]Op{{acceptMsg(1), {Kind: OpRetainedPut, Msg: &Message{ID: 1, Topic: "t/1"}}}, {routeMsg(1)}},
			want:    view{Retained: []string{"t/1"}},
		},
	})
}

func TestApplyInbound(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name:    "put",
			entries: [][]Op{{putInbound("a", 1), putInbound("a", 2), putInbound("b", 1)}},
			want:    view{Inbound: []string{"a 1", "a 2", "b 1"}},
		},
		{
			name: "put replaces",
			entries: [][]Op{
				{putInbound("a", 1)},
				{{Kind: OpInboundPut, Inbound: &Inbound{ClientID: "a", PacketID: 1, Created: 99}}},
			},
			want: view{Inbound: []string{"a 1"}},
			check: func(t *testing.T, snap *Snapshot) {
				if got := snap.Inbound[0].Created; got != 99 {
					t.Errorf("created = %d, want 99", got)
				}
			},
		},
		{
			name:    "delete one packet id",
			entries: [][]Op{{putInbound("a", 1), putInbound("a", 2), putInbound("b", 1)}, {delInbound("a", 1)}},
			want:    view{Inbound: []string{"a 2", "b 1"}},
		},
		{
			name:    "delete unknown is a no-op",
			entries: [][]Op{{putInbound("a", 1)}, {delInbound("a", 2), delInbound("b", 1)}},
			want:    view{Inbound: []string{"a 1"}},
		},
	})
}

func TestApplyDeliveryPut(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name:    "put",
			entries: [][]Op{{acceptMsg(1), putDeliv("a", 1, DeliveryPublish), putDeliv("b", 1, DeliveryPublish)}},
			want:    view{Msgs: []string{"1"}, Deliveries: []string{"a 1 publish", "b 1 publish"}},
		},
		{
			name:    "put updates the state",
			entries: [][]Op{{acceptMsg(1), putDeliv("a", 1, DeliveryPublish)}, {putDeliv("a", 1, DeliveryPubrel)}},
			want:    view{Msgs: []string{"1"}, Deliveries: []string{"a 1 pubrel"}},
		},
		{
			name:    "message accept replaces",
			entries: [][]Op{{acceptMsg(1)}, {{Kind: OpMsgAccept, Msg: &Message{ID: 1, Topic: "other"}}}},
			want:    view{Msgs: []string{"1"}},
			check: func(t *testing.T, snap *Snapshot) {
				if got := snap.Msgs[1].Topic; got != "other" {
					t.Errorf("topic = %q, want other", got)
				}
			},
		},
	})
}

// TestApplyCorruptData checks that Apply reports damaged records instead of
// skipping them, and applies nothing of the entry.
func TestApplyCorruptData(t *testing.T) {
	cases := []struct {
		name     string
		setup    [][]Op
		bucket   []byte
		key      []byte
		value    []byte
		op       Op
		wantText string
	}{
		{
			name:     "delivery key of the wrong length",
			setup:    [][]Op{{putSession("a")}},
			bucket:   bucketDeliv,
			key:      append(clientPrefix("a"), "xyz"...),
			value:    []byte("{}"),
			op:       delSession("a"),
			wantText: "corrupt delivery key",
		},
		{
			name:     "delivery record at routing",
			setup:    [][]Op{{acceptMsg(7), putDeliv("a", 7, DeliveryPublish)}},
			bucket:   bucketDeliv,
			key:      delivKey("a", 7),
			value:    []byte("{bad"),
			op:       routeMsg(7),
			wantText: "decode",
		},
		{
			name:     "delivery record at done",
			setup:    [][]Op{{acceptMsg(7), putDeliv("a", 7, DeliveryPublish)}},
			bucket:   bucketDeliv,
			key:      delivKey("a", 7),
			value:    []byte("{bad"),
			op:       doneDeliv("a", 7),
			wantText: "decode",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			mustApply(t, s, tc.setup...)
			if err := s.db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(tc.bucket).Put(tc.key, tc.value)
			}); err != nil {
				t.Fatalf("corrupt the store: %v", err)
			}
			applied := s.Applied()
			err := s.Apply([]Entry{{Index: applied + 1, Ops: []Op{putSession("other"), tc.op}}})
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Apply = %v, want an error containing %q", err, tc.wantText)
			}
			if s.Applied() != applied {
				t.Errorf("applied = %d, want %d", s.Applied(), applied)
			}
			var found bool
			if err := s.db.View(func(tx *bolt.Tx) error {
				found = tx.Bucket(bucketSessions).Get([]byte("other")) != nil
				return nil
			}); err != nil {
				t.Fatalf("view: %v", err)
			}
			if found {
				t.Error("the failed entry's first op was applied")
			}
		})
	}
}

// TestApplyBatchingDoesNotMatter applies the same entries one per
// transaction, all in one, and in uneven batches: the states must be the
// same. A leader commits in groups and its followers in the batches they
// receive, so a result that depended on the batching would make their
// states diverge (it did: bbolt's Get answers nil for an empty value put
// in the same transaction, and the routed flags are empty values).
func TestApplyBatchingDoesNotMatter(t *testing.T) {
	entries := [][]Op{
		{acceptMsg(1)},
		{putDeliv("a", 1, DeliveryPublish), putDeliv("b", 1, DeliveryPublish)},
		{routeMsg(1)},
		{doneDeliv("a", 1)},
		{acceptMsg(2), putDeliv("a", 2, DeliveryPublish), routeMsg(2)},
		{doneDeliv("b", 1)},
		{doneDeliv("a", 2)},
		{acceptMsg(3), routeMsg(3), putDeliv("b", 3, DeliveryPublish)},
		{putDeliv("b", 3, DeliveryPubrel)},
		{doneDeliv("b", 3)},
	}
	es := make([]Entry, len(entries))
	for i, ops := range entries {
		es[i] = Entry{Index: uint64(i + 1), Epoch: 1, Ops: ops}
	}
	var digests []Digest
	for _, batch := range []int{1, len(es), 3, 4} {
		s, _ := newStore(t)
		for i := 0; i < len(es); i += batch {
			if err := s.Apply(es[i:min(i+batch, len(es))]); err != nil {
				t.Fatal(err)
			}
		}
		checkView(t, s, view{}) // every delivery done and every message routed: nothing left
		d, err := s.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	for i, d := range digests[1:] {
		if d != digests[0] {
			t.Errorf("batching %d: digest %+v, one entry per transaction gave %+v", i+1, d, digests[0])
		}
	}
}
