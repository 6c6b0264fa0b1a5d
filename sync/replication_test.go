package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// testLeader is a leader's store, committer, log and gRPC server on
// loopback.
type testLeader struct {
	store  *state.Store
	c      *state.Committer
	log    *Log
	leader *Leader
	logs   *recordHandler // the leader's log
	addr   string

	mu     gosync.Mutex
	hellos []string // "node@applied" of every admitted hello (Leader.OnHello)
}

func (l *testLeader) helloes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hellos)
}

func startLeader(t *testing.T, cluster string, epoch int64, logEntries int, prefill int) *testLeader {
	t.Helper()
	return startLeaderAt(t, cluster, epoch, logEntries, prefill, ProtocolRange{})
}

// startLeaderAt is startLeader speaking the replication protocol p.
func startLeaderAt(t *testing.T, cluster string, epoch int64, logEntries int, prefill int, p ProtocolRange) *testLeader {
	t.Helper()
	store, err := state.Open(t.TempDir(), state.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l := &testLeader{store: store, log: NewLog(store.Applied(), store.AppliedEpoch(), logEntries, 64<<20)}
	l.c = state.NewCommitter(store, state.CommitterOptions{OnApplied: l.log.Append})
	l.c.SetEpoch(epoch)
	t.Cleanup(func() {
		if err := l.c.Close(); err != nil {
			t.Errorf("close committer: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	l.write(t, 0, prefill)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	l.logs = &recordHandler{}
	l.leader = NewLeader(cluster, epoch, store, l.log, slog.New(l.logs), nil)
	l.leader.Protocol = p
	l.leader.OnHello = func(node string, applied uint64) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.hellos = append(l.hellos, fmt.Sprintf("%s@%d", node, applied))
	}
	pb.RegisterReplicationServer(srv, l.leader)
	go func() { _ = srv.Serve(ln) }() // ends with Stop
	t.Cleanup(srv.Stop)
	l.addr = ln.Addr().String()
	return l
}

// write appends n entries, each a session with a subscription, a routed
// message with a delivery, and a retained message, and waits until they
// are durable.
func (l *testLeader) write(t *testing.T, from, n int) {
	t.Helper()
	var last uint64
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("c%d", i)
		msgID := uint64(i + 1)
		idx, err := l.c.Append(
			state.Op{Kind: state.OpSessionPut, Session: &state.Session{ClientID: id, ProtocolVersion: 4}},
			state.Op{Kind: state.OpSubPut, Sub: &state.Subscription{ClientID: id, Filter: "t/" + id, QoS: 1}},
			state.Op{Kind: state.OpMsgAccept, Msg: &state.Message{ID: msgID, Topic: "t/" + id, Payload: []byte(id), QoS: 1}},
			state.Op{Kind: state.OpDeliveryPut, Delivery: &state.Delivery{ClientID: id, MsgID: msgID, PacketID: uint16(i%60000 + 1), QoS: 1}},
			state.Op{Kind: state.OpMsgRouted, MsgID: msgID},
			state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: "r/" + id, Payload: []byte(id), Retain: true}},
		)
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	if n > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.c.Wait(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
}

// testFollower runs a Follower over its own store.
type testFollower struct {
	store   *state.Store
	applied atomic.Uint64
	done    chan error
	cancel  context.CancelFunc
}

func openStore(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, state.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() }) // a second Close after the test's own is harmless here
	return s
}

func follow(t *testing.T, store *state.Store, addr, cluster string) *testFollower {
	t.Helper()
	return followAt(t, store, addr, cluster, ProtocolRange{})
}

// followAt is follow speaking the replication protocol p.
func followAt(t *testing.T, store *state.Store, addr, cluster string, p ProtocolRange) *testFollower {
	t.Helper()
	conn, err := grpc.NewClient(addr, DialOptions(insecure.NewCredentials())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	tf := &testFollower{store: store, done: make(chan error, 1), cancel: cancel}
	tf.applied.Store(store.Applied())
	f := &Follower{Cluster: cluster, Node: "f1", Store: store, Log: slog.New(slog.DiscardHandler),
		OnApplied: func(a uint64) { tf.applied.Store(a) }, Protocol: p}
	go func() { tf.done <- f.Run(ctx, pb.NewReplicationClient(conn)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-tf.done:
		case <-time.After(10 * time.Second): // waitApplied may have taken its result
		}
	})
	return tf
}

func waitApplied(t *testing.T, f *testFollower, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.applied.Load() != want {
		select {
		case err := <-f.done:
			t.Fatalf("follower stopped at %d (want %d): %v", f.applied.Load(), want, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower applied %d, want %d", f.applied.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sameState(t *testing.T, leader, follower *state.Store) {
	t.Helper()
	a, err := leader.Load()
	if err != nil {
		t.Fatal(err)
	}
	b, err := follower.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("follower state differs from the leader's:\nleader   applied %d epoch %d: %d sessions %d msgs %d retained\nfollower applied %d epoch %d: %d sessions %d msgs %d retained",
			a.Applied, a.AppliedEpoch, len(a.Sessions), len(a.Msgs), len(a.Retained),
			b.Applied, b.AppliedEpoch, len(b.Sessions), len(b.Msgs), len(b.Retained))
	}
}

func TestFollowerGetsLiveEntries(t *testing.T) {
	l := startLeader(t, "c", 7, 1000, 20)
	f := follow(t, openStore(t, t.TempDir()), l.addr, "c")
	waitApplied(t, f, l.c.Durable())
	l.write(t, 20, 50)
	waitApplied(t, f, l.c.Durable())
	sameState(t, l.store, f.store) // includes the applied epoch, 7
}

// TestLeaderReportsRejoiningFollowers: the leader reports each admitted
// follower's applied index as its stream opens (the node hands it to
// Quorum.Rejoined, which drops a follower that came back with less than
// it had acknowledged from the in-sync set).
func TestLeaderReportsRejoiningFollowers(t *testing.T) {
	l := startLeader(t, "c", 7, 1000, 20)
	stop := func(f *testFollower) {
		f.cancel()
		err := <-f.done
		f.done <- err // for the cleanup
	}
	helloes := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(l.helloes()) < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // polling
		}
		return l.helloes()
	}
	f := follow(t, openStore(t, t.TempDir()), l.addr, "c")
	waitApplied(t, f, l.c.Durable())
	stop(f)
	wiped := follow(t, openStore(t, t.TempDir()), l.addr, "c") // same name, empty store
	waitApplied(t, wiped, l.c.Durable())
	stop(wiped)
	again := follow(t, wiped.store, l.addr, "c")
	want := []string{"f1@0", "f1@0", fmt.Sprintf("f1@%d", l.c.Durable())}
	if got := helloes(3); !slices.Equal(got, want) {
		t.Fatalf("hellos %q, want %q", got, want)
	}
	waitApplied(t, again, l.c.Durable())
}

func TestFollowerTooFarBehindGetsSnapshot(t *testing.T) {
	l := startLeader(t, "c", 3, 10, 200) // the log keeps 10 of 200 entries
	f := follow(t, openStore(t, t.TempDir()), l.addr, "c")
	waitApplied(t, f, l.c.Durable())
	l.write(t, 200, 30) // live entries after the snapshot
	waitApplied(t, f, l.c.Durable())
	sameState(t, l.store, f.store)
}

// A follower holding entries the leader never had (a deposed leader's
// unreplicated tail) is replaced by a snapshot, not extended.
func TestDivergentFollowerIsReplaced(t *testing.T) {
	dir := t.TempDir()
	old := openStore(t, dir)
	c := state.NewCommitter(old, state.CommitterOptions{})
	c.SetEpoch(2)
	for i := 0; i < 5; i++ {
		if _, err := c.Append(state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: fmt.Sprintf("stale/%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	l := startLeader(t, "c", 4, 1000, 5) // same indexes 1..5, other epoch and content
	f := follow(t, old, l.addr, "c")
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, err := f.store.Load() // a read transaction: safe beside the follower's writes
		if err != nil {
			t.Fatal(err)
		}
		if snap.AppliedEpoch == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower still at epoch %d, applied %d", snap.AppliedEpoch, snap.Applied)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sameState(t, l.store, f.store)
}

func TestLeaderRefusesStaleOrForeignFollowers(t *testing.T) {
	l := startLeader(t, "c", 3, 1000, 1)

	foreign := follow(t, openStore(t, t.TempDir()), l.addr, "other")
	if err := <-foreign.done; status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
		t.Fatalf("another cluster's follower: %v, want PermissionDenied", err)
	}
	foreign.done <- nil // for the cleanup

	// A follower that already applied entries of epoch 9 refuses to be
	// led by epoch 3 (the leader refuses it first).
	ahead := openStore(t, t.TempDir())
	c := state.NewCommitter(ahead, state.CommitterOptions{})
	c.SetEpoch(9)
	if _, err := c.Append(state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	stale := follow(t, ahead, l.addr, "c")
	if err := <-stale.done; status.Code(errors.Unwrap(err)) != codes.FailedPrecondition {
		t.Fatalf("follower of a newer epoch: %v, want FailedPrecondition", err)
	}
	stale.done <- nil
	if ahead.Applied() != 1 || ahead.AppliedEpoch() != 9 {
		t.Fatalf("the refused follower's state changed: applied %d epoch %d", ahead.Applied(), ahead.AppliedEpoch())
	}
}

func TestLogContinues(t *testing.T) {
	l := NewLog(10, 2, 3, 1<<20)
	l.Append([]state.Entry{{Index: 11, Epoch: 2}, {Index: 12, Epoch: 3}, {Index: 13, Epoch: 3}, {Index: 14, Epoch: 3}})
	for _, c := range []struct {
		idx   uint64
		epoch int64
		want  bool
	}{{10, 2, false}, {11, 2, true}, {12, 3, true}, {12, 2, false}, {14, 3, true}, {15, 3, false}} {
		if got := l.Continues(c.idx, c.epoch); got != c.want {
			t.Errorf("Continues(%d, %d) = %v, want %v (base %d)", c.idx, c.epoch, got, c.want, l.base)
		}
	}
	if _, ok := l.From(11, 10); ok {
		t.Error("From(11) ok after entry 11 was dropped")
	}
	if e, ok := l.From(12, 10); !ok || len(e) != 3 || e[0].Index != 12 {
		t.Errorf("From(12) = %v, %v", e, ok)
	}
	if e, ok := l.From(15, 10); !ok || len(e) != 0 {
		t.Errorf("From(15) = %v, %v; want nothing yet", e, ok)
	}
}
