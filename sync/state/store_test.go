package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// rawUpdate changes the state file under dir behind the Store's back.
func rawUpdate(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: testLockTimeout})
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatalf("raw update: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("raw close: %v", err)
	}
}

// requireUnlocked fails unless the state file under dir can be locked, i.e.
// no handle on it was leaked.
func requireUnlocked(t *testing.T, dir string) {
	t.Helper()
	rawUpdate(t, dir, func(*bolt.Tx) error { return nil })
}

func TestStoreReopenKeepsState(t *testing.T) {
	s, dir := newStore(t)
	if s.Applied() != 0 || s.MsgSeq() != 0 {
		t.Fatalf("new store: applied %d msgseq %d, want 0 0", s.Applied(), s.MsgSeq())
	}
	mustApply(t, s,
		[]Op{putSession("a"), putSub("a", "x/#")},
		[]Op{acceptMsg(42), putDeliv("a", 42, DeliveryPublish)},
		[]Op{acceptMsg(7), putRetained("r")},
	)
	before := mustLoad(t, s)
	closeStore(t, s)

	s = openStore(t, dir)
	if got, want := s.Applied(), uint64(3); got != want {
		t.Errorf("applied after reopen = %d, want %d", got, want)
	}
	if got, want := s.MsgSeq(), uint64(42); got != want {
		t.Errorf("msgseq after reopen = %d, want %d", got, want)
	}
	after := mustLoad(t, s)
	if after.Applied != 3 || after.MsgSeq != 42 {
		t.Errorf("loaded applied %d msgseq %d, want 3 42", after.Applied, after.MsgSeq)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("state changed across reopen\nbefore: %+v\n after: %+v", before, after)
	}

	// The index continues from the reopened applied index.
	err := s.Apply([]Entry{{Index: 3, Ops: []Op{putSession("b")}}})
	if !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("replaying index 3 after reopen: err = %v, want ErrOutOfOrder", err)
	}
	mustApply(t, s, []Op{putSession("b")})
	if s.Applied() != 4 {
		t.Errorf("applied = %d, want 4", s.Applied())
	}
}

func TestOpenCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := openStore(t, dir)
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("state file not created: %v", err)
	}
	mustApply(t, s, []Op{putSession("a")})
}

func TestOpenRefuses(t *testing.T) {
	putMeta := func(key, val []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			closeStore(t, openStore(t, dir))
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(key, val)
			})
		}
	}
	cases := []struct {
		name     string
		setup    func(t *testing.T, dir string)
		wantText string
		unlocked bool // the refused file must not stay locked
	}{
		{
			name:     "data dir is a file",
			setup:    func(t *testing.T, dir string) { writeFile(t, dir) },
			wantText: "create data dir",
		},
		{
			name:     "newer format version",
			setup:    putMeta(keyFormat, []byte("triad-state-2")),
			wantText: `unsupported state format "triad-state-2"`,
			unlocked: true,
		},
		{
			name:     "foreign format",
			setup:    putMeta(keyFormat, []byte("something-else")),
			wantText: "unsupported state format",
			unlocked: true,
		},
		{
			name:     "corrupt applied index",
			setup:    putMeta(keyApplied, []byte{1, 2, 3}),
			wantText: "corrupt counter",
			unlocked: true,
		},
		{
			name:     "corrupt message sequence",
			setup:    putMeta(keyMsgSeq, []byte{1}),
			wantText: "corrupt counter",
			unlocked: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			tc.setup(t, dir)
			s, err := Open(dir, Options{LockTimeout: testLockTimeout})
			if err == nil {
				if cerr := s.Close(); cerr != nil {
					t.Errorf("close: %v", cerr)
				}
				t.Fatalf("Open succeeded, want error containing %q", tc.wantText)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Open error = %q, want it to contain %q", err, tc.wantText)
			}
			if tc.unlocked {
				requireUnlocked(t, dir)
			}
		})
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("not a directory"), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func TestOpenLocked(t *testing.T) {
	cases := []struct {
		name        string
		lockTimeout time.Duration
		wantWithin  time.Duration
	}{
		{name: "short timeout", lockTimeout: 150 * time.Millisecond, wantWithin: 150 * time.Millisecond},
		{name: "default timeout is 2s", lockTimeout: 0, wantWithin: 2 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			mustApply(t, s, []Op{putSession("a")})

			type result struct {
				s   *Store
				err error
			}
			res := make(chan result, 1)
			start := time.Now()
			go func() {
				s2, err := Open(dir, Options{LockTimeout: tc.lockTimeout})
				res <- result{s2, err}
			}()
			var r result
			select {
			case r = <-res:
			case <-time.After(tc.wantWithin + testTimeout):
				closeStore(t, s) // lets the stuck Open finish
				r = <-res
				if r.err == nil {
					if err := r.s.Close(); err != nil {
						t.Errorf("close second store: %v", err)
					}
				}
				t.Fatalf("second Open still waiting %v after its lock timeout", testTimeout)
			}
			elapsed := time.Since(start)
			if r.err == nil {
				if err := r.s.Close(); err != nil {
					t.Errorf("close second store: %v", err)
				}
				t.Fatal("second Open of an open data dir succeeded")
			}
			if !strings.Contains(r.err.Error(), "locked") || !strings.Contains(r.err.Error(), dir) {
				t.Errorf("error %q should say the data dir %q is locked", r.err, dir)
			}
			if !errors.Is(r.err, berrors.ErrTimeout) {
				t.Errorf("error %v should wrap bbolt's ErrTimeout", r.err)
			}
			if slack := 2 * time.Second; elapsed > tc.wantWithin+slack {
				t.Errorf("second Open refused after %v, want within %v (+%v slack)", elapsed, tc.wantWithin, slack)
			}

			// The first store is unaffected, and once closed the dir opens again.
			mustApply(t, s, []Op{putSession("b")})
			closeStore(t, s)
			s3 := openStore(t, dir)
			if s3.Applied() != 2 {
				t.Errorf("applied = %d, want 2", s3.Applied())
			}
		})
	}
}

func TestApplyRejectsWholeBatch(t *testing.T) {
	valid := func(i uint64) Entry {
		return Entry{Index: i, Ops: []Op{putSession("new"), acceptMsg(90 + i), putSub("new", "f")}}
	}
	cases := []struct {
		name     string
		batch    []Entry
		wantIs   error // nil: any error
		wantText string
	}{
		{name: "index repeats applied", batch: []Entry{{Index: 2, Ops: []Op{putSession("new")}}}, wantIs: ErrOutOfOrder, wantText: "got 2 after 2"},
		{name: "index skips one", batch: []Entry{{Index: 4, Ops: []Op{putSession("new")}}}, wantIs: ErrOutOfOrder, wantText: "got 4 after 2"},
		{name: "index zero", batch: []Entry{{Index: 0}}, wantIs: ErrOutOfOrder},
		{name: "second entry skips", batch: []Entry{valid(3), valid(5)}, wantIs: ErrOutOfOrder, wantText: "got 5 after 3"},
		{name: "second entry repeats first", batch: []Entry{valid(3), valid(3)}, wantIs: ErrOutOfOrder},
		{
			name: "third op invalid",
			batch: []Entry{{Index: 3, Ops: []Op{
				putSession("new"), acceptMsg(99), {Kind: OpSubPut, Sub: &Subscription{ClientID: "new"}},
			}}},
			wantText: "entry 3 op 2 (sub_put): state: incomplete sub_put op",
		},
		{
			name:     "unknown op kind",
			batch:    []Entry{{Index: 3, Ops: []Op{putSession("new"), {Kind: OpKind(200)}}}},
			wantText: "unknown op kind 200",
		},
		{
			name:     "invalid op in later entry",
			batch:    []Entry{valid(3), {Index: 4, Ops: []Op{putSub("new", "g"), {Kind: OpInvalid}}}},
			wantText: "entry 4 op 1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			mustApply(t, s, []Op{putSession("base")}, []Op{acceptMsg(5)})
			before := mustLoad(t, s)

			err := s.Apply(tc.batch)
			if err == nil {
				t.Fatal("Apply succeeded, want error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("err = %q, want it to contain %q", err, tc.wantText)
			}
			if s.Applied() != 2 || s.MsgSeq() != 5 {
				t.Errorf("in memory: applied %d msgseq %d, want 2 5", s.Applied(), s.MsgSeq())
			}
			if after := mustLoad(t, s); !reflect.DeepEqual(before, after) {
				t.Errorf("a rejected batch changed the state\nbefore: %+v\n after: %+v", before, after)
			}
			closeStore(t, s)
			s = openStore(t, dir)
			if after := mustLoad(t, s); !reflect.DeepEqual(before, after) {
				t.Errorf("a rejected batch changed the state on disk\nbefore: %+v\n after: %+v", before, after)
			}
			// The store still takes the entry that does follow.
			mustApply(t, s, []Op{putSession("next")})
		})
	}
}

func TestApplyEmptyBatch(t *testing.T) {
	s, _ := newStore(t)
	mustApply(t, s, []Op{putSession("a")})
	for _, batch := range [][]Entry{nil, {}} {
		if err := s.Apply(batch); err != nil {
			t.Fatalf("Apply(%v) = %v, want nil", batch, err)
		}
	}
	if s.Applied() != 1 {
		t.Errorf("applied = %d, want 1", s.Applied())
	}
	// An entry with no ops still advances the index.
	mustApply(t, s, nil)
	if got := mustLoad(t, s).Applied; got != 2 {
		t.Errorf("applied after empty entry = %d, want 2", got)
	}
}

func TestApplyMultiEntryBatch(t *testing.T) {
	s, _ := newStore(t)
	err := s.Apply([]Entry{
		{Index: 1, Ops: []Op{putSession("a")}},
		{Index: 2, Ops: []Op{acceptMsg(3)}},
		{Index: 3, Ops: []Op{putSub("a", "x")}},
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if s.Applied() != 3 || s.MsgSeq() != 3 {
		t.Errorf("applied %d msgseq %d, want 3 3", s.Applied(), s.MsgSeq())
	}
	checkView(t, s, view{Sessions: []string{"a"}, Subs: []string{"a x"}, Msgs: []string{"3"}})
}

func TestApplyMsgSeq(t *testing.T) {
	cases := []struct {
		name    string
		entries [][]Op
		want    uint64
	}{
		{name: "nothing accepted", entries: [][]Op{{putSession("a")}}, want: 0},
		{name: "one message", entries: [][]Op{{acceptMsg(5)}}, want: 5},
		{name: "lower id does not lower it", entries: [][]Op{{acceptMsg(5)}, {acceptMsg(3)}}, want: 5},
		{name: "highest within one entry", entries: [][]Op{{acceptMsg(9), acceptMsg(4)}}, want: 9},
		{name: "survives deletion of the message", entries: [][]Op{{acceptMsg(8), routeMsg(8)}}, want: 8},
		{
			name:    "retained messages do not count",
			entries: [][]Op{{acceptMsg(2), {Kind: OpRetainedPut, Msg: &Message{ID: 50, Topic: "r"}}}},
			want:    2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			mustApply(t, s, tc.entries...)
			if s.MsgSeq() != tc.want {
				t.Errorf("MsgSeq = %d, want %d", s.MsgSeq(), tc.want)
			}
			closeStore(t, s)
			s = openStore(t, dir)
			if s.MsgSeq() != tc.want || mustLoad(t, s).MsgSeq != tc.want {
				t.Errorf("after reopen MsgSeq = %d, want %d", s.MsgSeq(), tc.want)
			}
		})
	}
}

// fullRecords returns one record of every type with every field set.
func fullRecords() (*Session, *Subscription, *Message, *Delivery, *Inbound, *Message) {
	user := []UserProperty{{Key: "k1", Value: "v1"}, {Key: "k2", Value: "v2"}}
	sess := &Session{
		ClientID: "client-1", Username: []byte("user"), Listener: "tcp1", ProtocolVersion: 5,
		Clean: true, ExpiryInterval: 3600, ExpiryFlag: true, ReceiveMaximum: 20,
		TopicAliasMaximum: 10, MaximumPacketSize: 65536, User: user,
		Will: &Will{
			Topic: "will/t", Payload: []byte("gone"), QoS: 2, Retain: true,
			DelayInterval: 30, User: []UserProperty{{Key: "w", Value: "x"}},
		},
		ConnectedAt: 1700000000, DisconnectedAt: 1700000100,
	}
	sub := &Subscription{
		ClientID: "client-1", Filter: "a/+/c", QoS: 2, NoLocal: true,
		RetainAsPublished: true, RetainHandling: 2, Identifier: 17,
	}
	props := MessageProps{
		PayloadFormat: 1, PayloadFormatFlag: true, ExpiryInterval: 120, ContentType: "text/plain",
		ResponseTopic: "resp", CorrelationData: []byte{0, 1, 2}, User: user,
	}
	msg := &Message{
		ID: 77, Topic: "a/b/c", Payload: []byte{0, 0xff, 'x'}, QoS: 2, Retain: true, Origin: "client-2",
		ProtocolVersion: 4, Created: 1700000001, Expiry: 1700000121, Props: props, Routed: true,
	}
	deliv := &Delivery{
		ClientID: "client-1", MsgID: 77, PacketID: 65535, QoS: 2, Retain: true,
		SubIDs: []int{17, 4}, State: DeliveryPubrel,
	}
	in := &Inbound{ClientID: "client-1", PacketID: 9, Created: 1700000002}
	ret := &Message{
		ID: 78, Topic: "retained/t", Payload: []byte("keep"), QoS: 1, Retain: true, Origin: "client-3",
		ProtocolVersion: 5, Created: 1700000003, Expiry: 1700000999, Props: props, Routed: true,
	}
	return sess, sub, msg, deliv, in, ret
}

func TestLoadRoundTrip(t *testing.T) {
	sess, sub, msg, deliv, in, ret := fullRecords()
	for _, rec := range []any{sess, sub, msg, deliv, in, ret} {
		requireAllSet(t, reflect.TypeOf(rec).Elem().Name(), reflect.ValueOf(rec))
	}
	s, dir := newStore(t)
	mustApply(t, s, []Op{
		{Kind: OpSessionPut, Session: sess},
		{Kind: OpSubPut, Sub: sub},
		{Kind: OpMsgAccept, Msg: msg},
		{Kind: OpDeliveryPut, Delivery: deliv},
		{Kind: OpInboundPut, Inbound: in},
		{Kind: OpRetainedPut, Msg: ret},
	})
	// Fresh copies, so that aliasing cannot hide a lossy encoding.
	sess, sub, msg, deliv, in, ret = fullRecords()
	want := &Snapshot{
		Applied:    1,
		MsgSeq:     77,
		Sessions:   []Session{*sess},
		Subs:       []Subscription{*sub},
		Msgs:       map[uint64]*Message{77: msg},
		Deliveries: []Delivery{*deliv},
		Inbound:    []Inbound{*in},
		Retained:   []Message{*ret},
	}
	if got := mustLoad(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("Load mismatch\n got: %+v\nwant: %+v", got, want)
	}
	closeStore(t, s)
	s = openStore(t, dir)
	if got := mustLoad(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("Load after reopen mismatch\n got: %+v\nwant: %+v", got, want)
	}
}

func TestLoadEmpty(t *testing.T) {
	s, _ := newStore(t)
	got := mustLoad(t, s)
	want := &Snapshot{Msgs: map[uint64]*Message{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load of a new store = %+v, want %+v", got, want)
	}
}

func TestLoadCorruptRecord(t *testing.T) {
	s, dir := newStore(t)
	mustApply(t, s, []Op{putSession("a")})
	closeStore(t, s)
	rawUpdate(t, dir, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).Put([]byte("b"), []byte("{not json"))
	})
	s = openStore(t, dir)
	_, err := s.Load()
	if err == nil || !strings.Contains(err.Error(), "sessions") {
		t.Errorf("Load of a corrupt session = %v, want an error naming sessions", err)
	}
}

// requireAllSet fails for any zero field, nil pointer or empty slice in v,
// so that a field added to a record without a round-trip test is noticed.
func requireAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil", path)
			return
		}
		requireAllSet(t, path, v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			requireAllSet(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
			return
		}
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				requireAllSet(t, path, v.Index(i))
			}
		}
	default:
		if v.IsZero() {
			t.Errorf("%s is zero", path)
		}
	}
}

// TestRoutedFlagsMovedFromLegacyRecords: a file written before the routed
// bucket kept the flag in each message record; opening it moves the flags,
// so routed messages stay routed (and are collected when done).
func TestRoutedFlagsMovedFromLegacyRecords(t *testing.T) {
	s, dir := newStore(t)
	mustApply(t, s,
		[]Op{acceptMsg(1), putDeliv("a", 1, DeliveryPublish), routeMsg(1)},
		[]Op{acceptMsg(2), putDeliv("a", 2, DeliveryPublish)}, // not routed
	)
	closeStore(t, s)
	rawUpdate(t, dir, func(tx *bolt.Tx) error { // as the old format wrote it
		if err := tx.DeleteBucket(bucketRouted); err != nil {
			return err
		}
		m := acceptMsg(1).Msg
		m.Routed = true
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMsgs).Put(msgKey(1), b)
	})
	s = openStore(t, dir)
	snap := mustLoad(t, s)
	if !snap.Msgs[1].Routed || snap.Msgs[2].Routed {
		t.Fatalf("after the upgrade: message 1 routed %v, message 2 routed %v; want true, false", snap.Msgs[1].Routed, snap.Msgs[2].Routed)
	}
	mustApply(t, s, []Op{doneDeliv("a", 1)})
	if snap := mustLoad(t, s); snap.Msgs[1] != nil {
		t.Fatalf("routed message 1 kept after its last delivery was done")
	}
	checkInvariants(t, s)
}
