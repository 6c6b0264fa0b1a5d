package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

func TestAgreedProtocol(t *testing.T) {
	current := ProtocolRange{}.resolved()
	for _, c := range []struct {
		name             string
		leader, follower ProtocolRange
		want             uint32
		ok               bool
	}{
		{"same release", current, current, ProtocolVersion, true},
		{"follower one version newer", ProtocolRange{2, 1}, ProtocolRange{3, 2}, 2, true},
		{"leader one version newer", ProtocolRange{3, 2}, ProtocolRange{2, 1}, 2, true},
		{"unversioned follower, current leader", current, peerProtocol(0, 0), 1, true},
		{"current follower, unversioned leader", peerProtocol(0, 0), current, 1, true},
		{"follower too old", ProtocolRange{3, 2}, peerProtocol(0, 0), 1, false},
		{"follower too new", ProtocolRange{2, 1}, ProtocolRange{4, 3}, 2, false},
		{"leader too old", peerProtocol(0, 0), ProtocolRange{3, 2}, 1, false},
		{"leader too new", ProtocolRange{4, 3}, ProtocolRange{2, 1}, 2, false},
		{"a version without a minimum supports itself only", peerProtocol(3, 0), ProtocolRange{2, 1}, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := agreedProtocol(c.leader, c.follower)
			if got != c.want || ok != c.ok {
				t.Fatalf("agreedProtocol(leader %v, follower %v) = %d, %v; want %d, %v", c.leader, c.follower, got, ok, c.want, c.ok)
			}
		})
	}
	if got := (ProtocolRange{Version: 5}).resolved(); got != (ProtocolRange{5, MinProtocolVersion}) {
		t.Errorf("ProtocolRange{Version: 5}.resolved() = %v", got)
	}
}

// stop ends the follower's Run and waits for it; its result stays in
// done for the cleanup.
func (f *testFollower) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	select {
	case err := <-f.done:
		f.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("follower did not stop")
	}
}

// replicatesAcross runs a leader and a follower speaking the protocols
// leader and follower: the follower gets a snapshot, then live entries;
// restarted, it continues from the leader's log. The leader's first
// message is a SnapshotBegin the first time, an empty batch the second,
// and the follower checks the versions on both.
func replicatesAcross(t *testing.T, leader, follower ProtocolRange) {
	t.Helper()
	l := startLeaderAt(t, "c", 3, 10, 100, leader) // the log keeps 10 of 100 entries
	store := openStore(t, t.TempDir())
	f := followAt(t, store, l.addr, "c", follower)
	waitApplied(t, f, l.c.Durable())
	l.write(t, 100, 20)
	waitApplied(t, f, l.c.Durable())
	sameState(t, l.store, store)

	f.stop(t)
	l.write(t, 120, 5) // still in the log when the follower returns
	f = followAt(t, store, l.addr, "c", follower)
	waitApplied(t, f, l.c.Durable())
	sameState(t, l.store, store)
}

// A node one protocol version newer than this release follows a leader
// of this release.
func TestNewerFollowerFollowsOlderLeader(t *testing.T) {
	replicatesAcross(t, ProtocolRange{ProtocolVersion, MinProtocolVersion}, ProtocolRange{ProtocolVersion + 1, ProtocolVersion})
}

// A node one protocol version newer than this release leads followers of
// this release.
func TestNewerLeaderLeadsOlderFollower(t *testing.T) {
	replicatesAcross(t, ProtocolRange{ProtocolVersion + 1, ProtocolVersion}, ProtocolRange{ProtocolVersion, MinProtocolVersion})
}

// rawStream opens a replication stream to addr as a hand-driven follower.
func rawStream(t *testing.T, addr string) pb.Replication_StreamClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, DialOptions(insecure.NewCredentials())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	stream, err := pb.NewReplicationClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// sendVersion1Hello sends the hello of a version 1 follower: the fields
// it knew, no protocol version.
func sendVersion1Hello(t *testing.T, stream pb.Replication_StreamClient, node string) {
	t.Helper()
	hello := &pb.Hello{Cluster: "c", Node: node}
	if err := stream.Send(&pb.FollowerMessage{Body: &pb.FollowerMessage_Hello{Hello: hello}}); err != nil {
		t.Fatal(err)
	}
}

// A follower of the unversioned protocol (version 1) is led by a leader
// of this release: it gets the entries, and its acks count.
func TestVersion1FollowerIsLed(t *testing.T) {
	l := startLeader(t, "c", 3, 1000, 5)
	stream := rawStream(t, l.addr)
	sendVersion1Hello(t, stream, "old")
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("a version 1 follower was refused: %v", err)
	}
	if first.ProtocolVersion != ProtocolVersion || first.MinProtocolVersion != MinProtocolVersion || first.GetEntries() == nil {
		t.Fatalf("first message = %v; want an empty batch carrying protocol %d, min %d", first, ProtocolVersion, MinProtocolVersion)
	}
	var got uint64
	for got < 5 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("after entry %d: %v", got, err)
		}
		for _, e := range m.GetEntries().GetEntries() {
			if e.Index != got+1 {
				t.Fatalf("entry %d after %d", e.Index, got)
			}
			got = e.Index
		}
	}
	if err := stream.Send(&pb.FollowerMessage{Body: &pb.FollowerMessage_Ack{Ack: &pb.Ack{Applied: 5}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.leader.Acked()["old"] != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the leader did not count the version 1 follower's ack: %v", l.leader.Acked())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeLeader serves a scripted stream: after the hello, msgs, the first
// stamped with the protocol versions version and min (no version at all,
// as a version 1 leader sends, when both are zero); then it reads acks
// until the follower leaves.
type fakeLeader struct {
	pb.UnimplementedReplicationServer
	version, min uint32
	msgs         []*pb.LeaderMessage
}

func (s *fakeLeader) Stream(srv pb.Replication_StreamServer) error {
	if _, err := srv.Recv(); err != nil {
		return err
	}
	for i, m := range s.msgs {
		m = proto.Clone(m).(*pb.LeaderMessage)
		if i == 0 {
			m.ProtocolVersion, m.MinProtocolVersion = s.version, s.min
		}
		if err := srv.Send(m); err != nil {
			return err
		}
	}
	for {
		if _, err := srv.Recv(); err != nil {
			return nil // the follower left
		}
	}
}

// startFakeLeader serves a fakeLeader of epoch 2 speaking version..min
// that sends an empty batch, then entries 1..3; it returns its address.
func startFakeLeader(t *testing.T, version, min uint32) string {
	t.Helper()
	entries := &pb.Entries{}
	for i := uint64(1); i <= 3; i++ {
		op := state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: fmt.Sprintf("r/%d", i), Payload: []byte("x"), Retain: true}}
		pe, err := EntryToPB(i, 2, []state.Op{op})
		if err != nil {
			t.Fatal(err)
		}
		entries.Entries = append(entries.Entries, pe)
	}
	s := &fakeLeader{version: version, min: min, msgs: []*pb.LeaderMessage{
		{Epoch: 2, Body: &pb.LeaderMessage_Entries{Entries: &pb.Entries{}}},
		{Epoch: 2, Body: &pb.LeaderMessage_Entries{Entries: entries}},
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterReplicationServer(srv, s)
	go func() { _ = srv.Serve(ln) }() // ends with Stop
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// A follower of this release follows a leader of the unversioned
// protocol (version 1).
func TestFollowerFollowsVersion1Leader(t *testing.T) {
	addr := startFakeLeader(t, 0, 0)
	store := openStore(t, t.TempDir())
	f := follow(t, store, addr, "c")
	waitApplied(t, f, 3)
	if store.AppliedEpoch() != 2 {
		t.Fatalf("applied epoch %d, want 2", store.AppliedEpoch())
	}
}

// ended waits until the follower's Run returns and gives its result,
// which stays in done for the cleanup.
func (f *testFollower) ended(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.done:
		f.done <- err
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("the follower still streams (applied %d); want it refused", f.applied.Load())
		return nil
	}
}

// refusedBy returns the gRPC status message of a follower's error, after
// checking that it is a FailedPrecondition.
func refusedBy(t *testing.T, err error) string {
	t.Helper()
	st, ok := status.FromError(errors.Unwrap(err))
	if !ok || st.Code() != codes.FailedPrecondition {
		t.Fatalf("follower ended with %v; want a FailedPrecondition refusal", err)
	}
	return st.Message()
}

func TestIncompatibleProtocolsAreRefused(t *testing.T) {
	t.Run("the leader refuses a follower too old", func(t *testing.T) {
		l := startLeaderAt(t, "c", 3, 1000, 5, ProtocolRange{5, 4})
		store := openStore(t, t.TempDir())
		f := followAt(t, store, l.addr, "c", ProtocolRange{3, 2})
		err := f.ended(t)
		want := "follower f1 speaks replication protocol 3 (supports 2..3); this leader speaks 5 and supports 4..5: upgrade f1"
		if got := refusedBy(t, err); got != want {
			t.Fatalf("refusal:\n got %q\nwant %q", got, want)
		}
		if store.Applied() != 0 || len(l.leader.Acked()) != 0 {
			t.Fatalf("a refused follower applied %d, leader's acks %v", store.Applied(), l.leader.Acked())
		}
		warn := "WARN replication refused: incompatible protocol version their_protocol=3 their_min_protocol=2 protocol=5 min_protocol=4 fix=upgrade f1"
		if logs := l.logs.lines(); !slices.Contains(logs, warn) {
			t.Fatalf("leader's log %q\nlacks %q", logs, warn)
		}
	})
	t.Run("the leader refuses a follower too new", func(t *testing.T) {
		l := startLeaderAt(t, "c", 3, 1000, 5, ProtocolRange{3, 2})
		store := openStore(t, t.TempDir())
		f := followAt(t, store, l.addr, "c", ProtocolRange{5, 4})
		err := f.ended(t)
		want := "follower f1 speaks replication protocol 5 (supports 4..5); this leader speaks 3 and supports 2..3: " +
			"f1 is too new for this leader: run on it a release that still supports protocol 3 (upgrade one release at a time)"
		if got := refusedBy(t, err); got != want {
			t.Fatalf("refusal:\n got %q\nwant %q", got, want)
		}
		if store.Applied() != 0 {
			t.Fatalf("a refused follower applied %d", store.Applied())
		}
	})
	t.Run("a leader that dropped version 1 refuses an unversioned follower", func(t *testing.T) {
		l := startLeaderAt(t, "c", 3, 1000, 5, ProtocolRange{3, 2})
		stream := rawStream(t, l.addr)
		sendVersion1Hello(t, stream, "old")
		m, err := stream.Recv()
		want := "follower old speaks replication protocol 1 (supports 1..1); this leader speaks 3 and supports 2..3: upgrade old"
		if st, _ := status.FromError(err); st.Code() != codes.FailedPrecondition || st.Message() != want {
			t.Fatalf("version 1 follower got %v, %v; want FailedPrecondition %q", m, err, want)
		}
	})
	t.Run("a follower refuses an unversioned leader it is too new for", func(t *testing.T) {
		store := openStore(t, t.TempDir())
		f := followAt(t, store, startFakeLeader(t, 0, 0), "c", ProtocolRange{3, 2})
		err := f.ended(t)
		want := "replication: incompatible protocol version: leader speaks replication protocol 1 (supports 1..1); this follower f1 speaks 3 and supports 2..3: " +
			"this follower is too new for the leader: run on f1 a release that still supports protocol 1 (upgrade one release at a time)"
		if !errors.Is(err, ErrProtocolVersion) || err.Error() != want {
			t.Fatalf("follower ended with:\n %v\nwant\n %s", err, want)
		}
		if store.Applied() != 0 {
			t.Fatalf("the follower applied %d entries of a leader it refused", store.Applied())
		}
	})
	t.Run("a follower refuses a leader too new", func(t *testing.T) {
		store := openStore(t, t.TempDir())
		f := followAt(t, store, startFakeLeader(t, 5, 4), "c", ProtocolRange{3, 2})
		err := f.ended(t)
		want := "replication: incompatible protocol version: leader speaks replication protocol 5 (supports 4..5); this follower f1 speaks 3 and supports 2..3: upgrade f1"
		if !errors.Is(err, ErrProtocolVersion) || err.Error() != want {
			t.Fatalf("follower ended with:\n %v\nwant\n %s", err, want)
		}
		if store.Applied() != 0 {
			t.Fatalf("the follower applied %d entries of a leader it refused", store.Applied())
		}
	})
}

// recordHandler keeps every record as one line: level, message and the
// record's own attributes (not those of With).
type recordHandler struct {
	mu      gosync.Mutex
	records []string
}

// lines returns the records so far.
func (h *recordHandler) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.records...)
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.records = append(h.records, line)
	return nil
}

// A follower retrying a leader it refuses warns once, not at every retry,
// and warns again after the leader changed.
func TestFollowerWarnsOnceOfARefusedLeader(t *testing.T) {
	h := &recordHandler{}
	f := &Follower{Node: "f1", Log: slog.New(h), Protocol: ProtocolRange{3, 2}}
	old := &pb.LeaderMessage{Epoch: 2}
	for _, m := range []*pb.LeaderMessage{old, old, {Epoch: 2, ProtocolVersion: 3, MinProtocolVersion: 2}, old} {
		_ = f.checkLeader(context.Background(), m) // refusals are checked above; here only the log
	}
	refused := "replication refused: the leader's protocol version is not supported their_protocol=1 their_min_protocol=1 protocol=3 min_protocol=2 fix="
	var got []string
	for _, l := range h.lines() {
		got = append(got, strings.SplitAfter(l, "fix=")[0])
	}
	want := []string{"WARN " + refused, "DEBUG " + refused,
		"DEBUG replication protocol agreed protocol=3 their_protocol=3 their_min_protocol=2", "WARN " + refused}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log records:\n %q\nwant\n %q", got, want)
	}
}
