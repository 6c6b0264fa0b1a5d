package sync

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// FuzzFollowerFrame feeds arbitrary bytes to what a follower does with a
// frame from its leader: decode a LeaderMessage (a LeaderEntriesEncoded is
// the same bytes), convert the ops of its entries (EntryFromPB) or of its
// snapshot chunk (OpFromPB), and apply them to a fresh store through the
// follower's own apply and snapshot code. For any input it checks:
//
//   - no panic, no hang;
//   - a frame that does not convert fails with ErrMalformed;
//   - what converts goes back to the wire (EntryToPB, OpToPB), and the
//     re-encoded frame converts to the same ops: a follower never holds
//     an op its own leader code could not send on;
//   - an apply that fails leaves the store as it was (one transaction);
//   - an apply that succeeds leaves the store at the frame's last entry,
//     in the same state (digest) as the entries applied one transaction
//     each, and a state whose snapshot, sent over the wire as a leader
//     sends it and installed by a second follower, gives the same digest.
//
// Entries are applied to a store that stands just before the frame's
// first entry (as after a snapshot at that index), so that the index and
// epoch of the input are kept and its ops reach the store.
func FuzzFollowerFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) {
		var m pb.LeaderMessage
		if proto.Unmarshal(frame, &m) != nil {
			return
		}
		switch b := m.Body.(type) {
		case *pb.LeaderMessage_Entries:
			fuzzEntries(t, b.Entries.GetEntries())
		case *pb.LeaderMessage_SnapshotChunk:
			fuzzSnapshotChunk(t, m.Epoch, b)
		}
	})
}

// fuzzEntries checks a frame of entries.
func fuzzEntries(t *testing.T, pes []*pb.Entry) {
	if len(pes) == 0 {
		return
	}
	entries := make([]state.Entry, len(pes))
	for i, pe := range pes {
		e, err := EntryFromPB(pe)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("EntryFromPB: %v, not ErrMalformed", err)
			}
			return
		}
		entries[i] = e
	}
	for _, e := range entries {
		back := fuzzEntryWire(t, e)
		if back.Index != e.Index || back.Epoch != e.Epoch || !sameOps(back.Ops, e.Ops) {
			t.Fatalf("entry %d changed on the wire:\n%s\n%s", e.Index, opsJSON(t, e.Ops), opsJSON(t, back.Ops))
		}
	}

	first, last := entries[0], entries[len(entries)-1]
	st := fuzzStore(t)
	if err := st.Replace(first.Index-1, first.Epoch, 0, nil); err != nil {
		t.Fatalf("position the store before entry %d: %v", first.Index, err)
	}
	before := fuzzDigest(t, st)
	fl := &Follower{Store: st, Log: slog.New(slog.DiscardHandler)}
	if err := fl.apply(pes); err != nil {
		if errors.Is(err, ErrMalformed) {
			t.Fatalf("apply: %v after the entries converted", err)
		}
		if after := fuzzDigest(t, st); after != before {
			t.Fatalf("apply failed (%v) but changed the store: %+v, was %+v", err, after, before)
		}
		return
	}
	if st.Applied() != last.Index || st.AppliedEpoch() != last.Epoch {
		t.Fatalf("applied %d@%d, want %d@%d", st.Applied(), st.AppliedEpoch(), last.Index, last.Epoch)
	}
	fuzzOneByOne(t, entries, fuzzDigest(t, st))
	fuzzSnapshotRoundTrip(t, st)
}

// fuzzOneByOne applies entries one transaction each to a fresh store
// positioned as fuzzEntries positions its own, and checks that it ends
// with digest want, that of all entries in one transaction: a leader
// commits in groups and each follower in the batches it receives, so a
// result that depended on the batching would make their states diverge.
func fuzzOneByOne(t *testing.T, entries []state.Entry, want state.Digest) {
	st := fuzzStore(t)
	if err := st.Replace(entries[0].Index-1, entries[0].Epoch, 0, nil); err != nil {
		t.Fatalf("position the store before entry %d: %v", entries[0].Index, err)
	}
	for _, e := range entries {
		if err := st.Apply([]state.Entry{e}); err != nil {
			t.Fatalf("entry %d alone: %v; in one batch with the others it applied", e.Index, err)
		}
	}
	if got := fuzzDigest(t, st); got != want {
		t.Fatalf("entries applied one by one give digest %+v, in one batch %+v", got, want)
	}
}

// fuzzSnapshotChunk checks a snapshot chunk, installed by the follower as
// the whole snapshot at index 1.
func fuzzSnapshotChunk(t *testing.T, epoch int64, chunk *pb.LeaderMessage_SnapshotChunk) {
	st := fuzzStore(t)
	before := fuzzDigest(t, st)
	fl := &Follower{Store: st, Log: slog.New(slog.DiscardHandler)}
	snap := &pendingSnapshot{begin: &pb.SnapshotBegin{Index: 1, EntryEpoch: epoch}}
	if err := fl.handle(&pb.LeaderMessage{Epoch: epoch, Body: chunk}, &snap); err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("snapshot chunk: %v, not ErrMalformed", err)
		}
		return
	}
	for i := range snap.ops {
		p, err := OpToPB(&snap.ops[i])
		if err != nil {
			t.Fatalf("snapshot op %d converted from the wire but not back: %v", i, err)
		}
		back := fuzzOpWire(t, p)
		if !sameOps([]state.Op{back}, snap.ops[i:i+1]) {
			t.Fatalf("snapshot op %d changed on the wire:\n%s\n%s", i, opsJSON(t, snap.ops[i:i+1]), opsJSON(t, []state.Op{back}))
		}
	}
	end := &pb.LeaderMessage{Epoch: epoch, Body: &pb.LeaderMessage_SnapshotEnd{SnapshotEnd: &pb.SnapshotEnd{}}}
	if err := fl.handle(end, &snap); err != nil {
		if after := fuzzDigest(t, st); after != before {
			t.Fatalf("snapshot install failed (%v) but changed the store: %+v, was %+v", err, after, before)
		}
		return
	}
	if st.Applied() != 1 || st.AppliedEpoch() != epoch {
		t.Fatalf("snapshot installed at %d@%d, want 1@%d", st.Applied(), st.AppliedEpoch(), epoch)
	}
	fuzzSnapshotRoundTrip(t, st)
}

// fuzzSnapshotRoundTrip sends the state of src as a leader sends a
// snapshot (Load, Snapshot.Ops, OpToPB, encoded) to a second follower
// with a fresh store, and checks that both then have the same digest.
func fuzzSnapshotRoundTrip(t *testing.T, src *state.Store) {
	snap, err := src.Load()
	if err != nil {
		t.Fatalf("load what was applied: %v", err)
	}
	chunk := &pb.SnapshotChunk{}
	for i, o := range snap.Ops() {
		p, err := OpToPB(&o)
		if err != nil {
			t.Fatalf("snapshot op %d (%s) cannot be sent: %v", i, o.Kind, err)
		}
		chunk.Ops = append(chunk.Ops, p)
	}
	frames := []*pb.LeaderMessage{
		{Body: &pb.LeaderMessage_SnapshotBegin{SnapshotBegin: &pb.SnapshotBegin{
			Index: snap.Applied, EntryEpoch: snap.AppliedEpoch, MsgSeq: snap.MsgSeq}}},
		{Body: &pb.LeaderMessage_SnapshotChunk{SnapshotChunk: chunk}},
		{Body: &pb.LeaderMessage_SnapshotEnd{SnapshotEnd: &pb.SnapshotEnd{}}},
	}
	dst := fuzzStore(t)
	fl := &Follower{Store: dst, Log: slog.New(slog.DiscardHandler)}
	var pending *pendingSnapshot
	for _, m := range frames {
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("encode a snapshot frame: %v", err)
		}
		var got pb.LeaderMessage
		if err := proto.Unmarshal(data, &got); err != nil {
			t.Fatalf("decode a snapshot frame: %v", err)
		}
		if err := fl.handle(&got, &pending); err != nil {
			t.Fatalf("install the snapshot of what was applied: %v", err)
		}
	}
	if want, got := fuzzDigest(t, src), fuzzDigest(t, dst); got != want {
		t.Fatalf("the snapshot installed elsewhere has digest %+v, the source %+v", got, want)
	}
}

// fuzzEntryWire sends e through EntryToPB and the wire encoding and
// converts it back.
func fuzzEntryWire(t *testing.T, e state.Entry) state.Entry {
	p, err := EntryToPB(e.Index, e.Epoch, e.Ops)
	if err != nil {
		t.Fatalf("entry %d converted from the wire but not back: %v", e.Index, err)
	}
	data, err := proto.Marshal(p)
	if err != nil {
		t.Fatalf("encode entry %d: %v", e.Index, err)
	}
	var got pb.Entry
	if err := proto.Unmarshal(data, &got); err != nil {
		t.Fatalf("decode entry %d: %v", e.Index, err)
	}
	back, err := EntryFromPB(&got)
	if err != nil {
		t.Fatalf("re-encoded entry %d does not convert: %v", e.Index, err)
	}
	return back
}

// fuzzOpWire sends p through the wire encoding and converts it.
func fuzzOpWire(t *testing.T, p *pb.Op) state.Op {
	data, err := proto.Marshal(p)
	if err != nil {
		t.Fatalf("encode op: %v", err)
	}
	var got pb.Op
	if err := proto.Unmarshal(data, &got); err != nil {
		t.Fatalf("decode op: %v", err)
	}
	o, err := OpFromPB(&got)
	if err != nil {
		t.Fatalf("re-encoded op does not convert: %v", err)
	}
	return o
}

// sameOps compares ops as the store keeps them (JSON): an empty slice
// and nil are the same, as they are on the wire.
func sameOps(a, b []state.Op) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

func opsJSON(t *testing.T, ops []state.Op) string {
	data, err := json.Marshal(ops)
	if err != nil {
		t.Fatalf("encode ops: %v", err)
	}
	return string(data)
}

// fuzzStore opens a fresh store in its own temporary directory, closed
// when the input's run ends. NoSync: nothing here survives a crash.
func fuzzStore(t *testing.T) *state.Store {
	st, err := state.Open(t.TempDir(), state.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open a store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
	})
	return st
}

func fuzzDigest(t *testing.T, st *state.Store) state.Digest {
	d, err := st.Digest()
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	return d
}

// The seed corpus: real frames as a leader encodes them.

// seedEpoch is the leader epoch of the seeds.
const seedEpoch = 3

// frameSeeds collects seed frames by file name.
type frameSeeds struct {
	t     *testing.T
	frame map[string][]byte
}

func (s *frameSeeds) add(name string, m proto.Message) {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		s.t.Fatalf("seed %s: %v", name, err)
	}
	s.frame[name] = data
}

func (s *frameSeeds) entry(idx uint64, ops ...state.Op) *pb.Entry {
	p, err := EntryToPB(idx, seedEpoch, ops)
	if err != nil {
		s.t.Fatalf("seed entry %d: %v", idx, err)
	}
	return p
}

func entriesFrame(pes ...*pb.Entry) *pb.LeaderMessage {
	return &pb.LeaderMessage{Epoch: seedEpoch, Body: &pb.LeaderMessage_Entries{Entries: &pb.Entries{Entries: pes}}}
}

// followerFrameSeeds returns the seed corpus by file name: one entry of
// every op kind, a batch that walks a message through its whole life, the
// snapshot of that state as one chunk, the control frames, and frames the
// follower must refuse.
func followerFrameSeeds(t *testing.T) map[string][]byte {
	s := &frameSeeds{t: t, frame: map[string][]byte{}}
	for _, c := range opCases() {
		s.add("op-"+c.op.Kind.String(), entriesFrame(s.entry(1, c.op)))
	}
	life := lifeOps()
	var entries []*pb.Entry
	for i, ops := range life {
		entries = append(entries, s.entry(uint64(i+1), ops...))
	}
	s.add("batch-life", entriesFrame(entries...))
	s.add("batch-life-from-7", entriesFrame(entries[6:]...))
	encoded, err := proto.Marshal(&pb.Entries{Entries: entries[:6]})
	if err != nil {
		t.Fatal(err)
	}
	s.add("batch-encoded", &pb.LeaderEntriesEncoded{Epoch: seedEpoch, Entries: encoded})

	// A message routed after it was accepted, still owed to a session:
	// the snapshot of that state once installed elsewhere with another
	// digest (the msgs record kept the routed flag as it came).
	s.add("regress-routed-later-digest", entriesFrame(
		s.entry(1, state.Op{Kind: state.OpMsgAccept, Msg: &state.Message{ID: 1, Topic: "t", QoS: 1}},
			state.Op{Kind: state.OpDeliveryPut, Delivery: &state.Delivery{ClientID: "c", MsgID: 1, PacketID: 1, QoS: 1}}),
		s.entry(2, state.Op{Kind: state.OpMsgRouted, MsgID: 1})))

	s.addSnapshotSeeds(life[:8])
	s.addRefusals(entries, life)
	return s.frame
}

// lifeOps are a message's life, one entry each: sessions and
// subscriptions, the message accepted, delivered to two sessions, routed,
// done; inbound QoS 2 state and a retained message come and go; one
// session is deleted.
func lifeOps() [][]state.Op {
	return [][]state.Op{
		{{Kind: state.OpSessionPut, Session: fullSession()}, {Kind: state.OpSessionPut, Session: &state.Session{ClientID: "client-d", ProtocolVersion: 4}}},
		{{Kind: state.OpSubPut, Sub: fullSub()}, {Kind: state.OpSubPut, Sub: &state.Subscription{ClientID: "client-s", Filter: "a/#", QoS: 2}}},
		{{Kind: state.OpMsgAccept, Msg: &state.Message{ID: 42, Topic: "a/b/c", Payload: []byte("hi"), QoS: 2}}},
		{{Kind: state.OpDeliveryPut, Delivery: fullDelivery()}, {Kind: state.OpDeliveryPut, Delivery: &state.Delivery{ClientID: "client-s", MsgID: 42, PacketID: 1, QoS: 2}}},
		{{Kind: state.OpDeliveryDone, ClientID: "client-s", MsgID: 42}},
		{{Kind: state.OpMsgRouted, MsgID: 42}},
		{{Kind: state.OpInboundPut, Inbound: fullInbound()}, {Kind: state.OpRetainedPut, Msg: fullMsg(0, "r/t")}},
		{{Kind: state.OpMsgAccept, Msg: fullMsg(43, "a/b")}, {Kind: state.OpDynsecPut, Dynsec: []byte(`{"clients":[]}`)}},
		{{Kind: state.OpInboundDelete, ClientID: "client-in", PacketID: 9}, {Kind: state.OpRetainedDelete, Topic: "r/t"}},
		{{Kind: state.OpSubDelete, ClientID: "client-sub", Filter: "a/+/c"}, {Kind: state.OpDeliveryDone, ClientID: "client-d", MsgID: 42}},
		{{Kind: state.OpSessionDelete, ClientID: "client-s"}},
	}
}

// addSnapshotSeeds adds the snapshot frames of the state that life
// builds (its ops in one chunk) and the first message of a stream
// without a snapshot.
func (s *frameSeeds) addSnapshotSeeds(life [][]state.Op) {
	st := fuzzStore(s.t)
	for i, ops := range life {
		if err := st.Apply([]state.Entry{{Index: uint64(i + 1), Epoch: seedEpoch, Ops: ops}}); err != nil {
			s.t.Fatalf("seed state: %v", err)
		}
	}
	snap, err := st.Load()
	if err != nil {
		s.t.Fatal(err)
	}
	chunk := &pb.SnapshotChunk{}
	for _, o := range snap.Ops() {
		p, err := OpToPB(&o)
		if err != nil {
			s.t.Fatal(err)
		}
		chunk.Ops = append(chunk.Ops, p)
	}
	s.add("snapshot-chunk", &pb.LeaderMessage{Epoch: seedEpoch, Body: &pb.LeaderMessage_SnapshotChunk{SnapshotChunk: chunk}})
	s.add("snapshot-begin", &pb.LeaderMessage{Epoch: seedEpoch, ProtocolVersion: ProtocolVersion, MinProtocolVersion: MinProtocolVersion,
		Body: &pb.LeaderMessage_SnapshotBegin{SnapshotBegin: &pb.SnapshotBegin{Index: snap.Applied, EntryEpoch: seedEpoch, MsgSeq: snap.MsgSeq}}})
	s.add("snapshot-end", &pb.LeaderMessage{Epoch: seedEpoch, Body: &pb.LeaderMessage_SnapshotEnd{SnapshotEnd: &pb.SnapshotEnd{}}})
	s.add("first-empty-entries", &pb.LeaderMessage{Epoch: seedEpoch, ProtocolVersion: ProtocolVersion, MinProtocolVersion: MinProtocolVersion,
		Body: &pb.LeaderMessage_Entries{Entries: &pb.Entries{}}})
}

// addRefusals adds frames a follower must refuse: a gap, a stale epoch,
// and wire values that no op holds. entries are life's, encoded.
func (s *frameSeeds) addRefusals(entries []*pb.Entry, life [][]state.Op) {
	s.add("refuse-gap", entriesFrame(entries[0], entries[2]))
	stale := s.entry(2, life[1]...)
	stale.Epoch = seedEpoch - 1
	s.add("refuse-stale-epoch", entriesFrame(entries[0], stale))
	s.add("refuse-index-0", entriesFrame(&pb.Entry{Epoch: seedEpoch, Ops: entries[0].Ops}))
	bad := func(name string, edit func(o *pb.Op)) {
		o := proto.Clone(s.entry(1, opCases()[0].op).Ops[0]).(*pb.Op)
		edit(o)
		s.add("refuse-"+name, entriesFrame(&pb.Entry{Index: 1, Epoch: seedEpoch, Ops: []*pb.Op{o}}))
	}
	bad("kind", func(o *pb.Op) { o.Kind = 99 })
	bad("no-session", func(o *pb.Op) { o.Session = nil })
	bad("protocol-version", func(o *pb.Op) { o.Session.ProtocolVersion = 256 })
	bad("receive-maximum", func(o *pb.Op) { o.Session.ReceiveMaximum = 1 << 16 })
	bad("nil-user", func(o *pb.Op) { o.Session.User = append(o.Session.User, nil) })
	bad("dynsec-elsewhere", func(o *pb.Op) { o.Dynsec = []byte("{}") })
	bad("packet-id", func(o *pb.Op) { o.PacketId = 1 << 16 })
	delivery := s.entry(1, state.Op{Kind: state.OpDeliveryPut, Delivery: fullDelivery()})
	delivery.Ops[0].Delivery.SubIds = []int64{maxSubscriptionID + 1}
	delivery.Ops[0].Delivery.State = 7
	s.add("refuse-delivery", entriesFrame(delivery))
}

// followerFrameCorpusDir is where go test finds FuzzFollowerFrame's seed
// corpus.
var followerFrameCorpusDir = filepath.Join("testdata", "fuzz", "FuzzFollowerFrame")

// corpusFile is data in Go's fuzz corpus file format.
func corpusFile(data []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n")
}

// TestFollowerFrameFuzzCorpus keeps the committed seed corpus in step with
// followerFrameSeeds. SYNC_WRITE_CORPUS=1 rewrites it.
func TestFollowerFrameFuzzCorpus(t *testing.T) {
	seeds := followerFrameSeeds(t)
	if os.Getenv("SYNC_WRITE_CORPUS") == "1" {
		if err := os.MkdirAll(followerFrameCorpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seeds {
			if err := os.WriteFile(filepath.Join(followerFrameCorpusDir, name), corpusFile(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range seeds {
		got, err := os.ReadFile(filepath.Join(followerFrameCorpusDir, name))
		if err != nil {
			t.Errorf("seed %s: %v (SYNC_WRITE_CORPUS=1 writes the corpus)", name, err)
			continue
		}
		if !bytes.Equal(got, corpusFile(data)) {
			t.Errorf("seed %s is stale (SYNC_WRITE_CORPUS=1 rewrites the corpus)", name)
		}
	}
}
