package sync

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// Follower catch-up, in process with the real parts: a bbolt store, a
// committer feeding the Log at append time (as node/replication.go does),
// the Leader on a gRPC server on loopback, and a Follower over its own
// store. Three cases run one after the other on the same leader:
//
//   - wiped: a follower with an empty data directory gets a snapshot;
//   - down, within log: the follower was stopped, the leader appended
//     cfg.behind sessions (each with a subscription) in 100-op entries,
//     which the production log bounds still hold: it gets entries;
//   - down, beyond log: the same against a second server whose log is
//     too small for them: it gets a snapshot again.
//
// In every case the leader keeps appending small entries while the
// follower catches up, and the follower must end with the leader's state.

// The production log bounds (node/replication.go logMaxEntries and
// logMaxBytes; node imports sync, so they are repeated here).
const (
	catchupLogEntries = 100_000
	catchupLogBytes   = 256 << 20
)

const (
	catchupEpoch       = 3
	catchupPayload     = 64                   // bytes per retained message
	catchupFillOps     = 1000                 // ops per entry when filling the leader
	catchupBehindOps   = 100                  // ops per entry appended while the follower is down
	catchupLiveEvery   = 2 * time.Millisecond // at most one live entry per tick
	catchupPollEvery   = time.Millisecond
	catchupStopTimeout = 10 * time.Second
)

type catchupConfig struct {
	n       int           // sessions (one subscription each) and retained messages the leader starts with
	behind  int           // sessions (one subscription each) appended while the follower is down
	live    int           // most small entries the leader appends during one catch-up
	noSync  bool          // stores skip fsync
	timeout time.Duration // bound of every wait
}

func catchupConfigFor(n int) catchupConfig {
	return catchupConfig{n: n, behind: min(10_000, max(n/2, 100)), live: min(1000, max(n/20, 20)),
		timeout: max(2*time.Minute, time.Duration(n)*2*time.Millisecond)}
}

// catchupResult is one case's figures.
type catchupResult struct {
	name      string
	key       string // metric prefix
	sessions  int    // at the leader when the follower ended identical
	retained  int
	dur       time.Duration // follower start to applied >= the leader's durable index
	ops       int           // ops the follower received until then: snapshot or entries
	snapshots int           // snapshots the follower installed
	wire      int64         // bytes the leader sent (gRPC payloads with framing)
	live      int           // entries the leader appended during the case
	liveMax   time.Duration // slowest live entry, append to durable on the leader
	read      time.Duration // follower start to the leader's snapshot read (0: no snapshot)
	sent      time.Duration // follower start to the snapshot's end sent
	installed time.Duration // follower start to the snapshot installed (0: no snapshot)
	file      int64         // the follower's state file at the end, bytes
}

func (r catchupResult) opsPerSec() float64 { return float64(r.ops) / r.dur.Seconds() }

// catchupServer is one Leader on its own gRPC server, with its own Log.
type catchupServer struct {
	addr  string
	log   *Log
	srv   *grpc.Server
	wire  catchupWire
	sends catchupCounter // "sending snapshot" records
}

type catchupLeader struct {
	dir   string
	store *state.Store
	c     *state.Committer
	full  *catchupServer // production log bounds
	short *catchupServer // a log shorter than what a down follower misses
}

// startCatchupLeader fills a store with cfg.n sessions and retained
// messages, then serves it twice: with the production log and with one of
// shortBytes.
func startCatchupLeader(tb testing.TB, cfg catchupConfig, shortBytes int) *catchupLeader {
	tb.Helper()
	dir := tb.TempDir()
	store, err := state.Open(dir, state.Options{NoSync: cfg.noSync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := store.Close(); err != nil {
			tb.Errorf("close leader store: %v", err)
		}
	})
	catchupFill(tb, store, cfg.n)
	l := &catchupLeader{dir: dir, store: store}
	l.full = startCatchupServer(tb, store, catchupLogEntries, catchupLogBytes)
	l.short = startCatchupServer(tb, store, catchupLogEntries, shortBytes)
	l.c = state.NewCommitter(store, state.CommitterOptions{OnAppend: func(e state.Entry) {
		l.full.log.Add(e)
		l.short.log.Add(e)
	}})
	l.c.SetEpoch(catchupEpoch)
	tb.Cleanup(func() { // before the store closes: cleanups run last first
		if err := l.c.Close(); err != nil {
			tb.Errorf("close committer: %v", err)
		}
	})
	return l
}

func startCatchupServer(tb testing.TB, store *state.Store, maxEntries, maxBytes int) *catchupServer {
	tb.Helper()
	s := &catchupServer{log: NewLog(store.Applied(), store.AppliedEpoch(), maxEntries, maxBytes)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.srv = grpc.NewServer(grpc.StatsHandler(&s.wire))
	lg := slog.New(&s.sends)
	pb.RegisterReplicationServer(s.srv, NewLeader("c", catchupEpoch, store, s.log, lg, nil))
	go func() { _ = s.srv.Serve(ln) }() // ends with Stop
	tb.Cleanup(s.srv.Stop)
	s.addr = ln.Addr().String()
	return s
}

// catchupFill applies n sessions, each with a subscription, and n
// retained messages through Store.Apply, in entries of catchupFillOps ops
// and one transaction per entry.
func catchupFill(tb testing.TB, store *state.Store, n int) {
	tb.Helper()
	payload := make([]byte, catchupPayload)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	var ops []state.Op
	flush := func() {
		e := state.Entry{Index: store.Applied() + 1, Epoch: catchupEpoch, Ops: ops}
		if err := store.Apply([]state.Entry{e}); err != nil {
			tb.Fatal(err)
		}
		ops = nil
	}
	add := func(o ...state.Op) {
		if ops = append(ops, o...); len(ops) >= catchupFillOps {
			flush()
		}
	}
	for i := range n {
		add(catchupSession("s", i)...)
	}
	for i := range n {
		add(state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: "state/dev/" + strconv.Itoa(i),
			Payload: payload, QoS: 1, Retain: true, Origin: "s" + strconv.Itoa(i), ProtocolVersion: 5,
			Created: 1_760_000_000}})
	}
	if len(ops) > 0 {
		flush()
	}
}

// catchupSession is a persistent MQTT 5 session with one subscription.
func catchupSession(prefix string, i int) []state.Op {
	id := prefix + strconv.Itoa(i)
	return []state.Op{
		{Kind: state.OpSessionPut, Session: &state.Session{ClientID: id, Username: []byte("device"), Listener: "tcp",
			ProtocolVersion: 5, ExpiryInterval: 86400, ExpiryFlag: true, ReceiveMaximum: 64,
			ConnectedAt: 1_760_000_000, DisconnectedAt: 1_760_000_100}},
		{Kind: state.OpSubPut, Sub: &state.Subscription{ClientID: id, Filter: "dev/" + id + "/cmd/#", QoS: 1}},
	}
}

// appendBehind appends n sessions with their subscriptions in entries of
// catchupBehindOps ops and waits until they are durable.
func (l *catchupLeader) appendBehind(tb testing.TB, prefix string, n int, timeout time.Duration) {
	tb.Helper()
	var ops []state.Op
	var last uint64
	for i := range n {
		ops = append(ops, catchupSession(prefix, i)...)
		if len(ops) >= catchupBehindOps || i == n-1 {
			idx, err := l.c.Append(ops...)
			if err != nil {
				tb.Fatal(err)
			}
			last, ops = idx, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.c.Wait(ctx, last); err != nil {
		tb.Fatal(err)
	}
}

// catchupLive appends up to limit small entries (a session, its
// subscription and a retained message), one per catchupLiveEvery, each
// waited for until durable, until stopped: the leader serving clients
// during a catch-up.
type catchupLive struct {
	stop, done chan struct{}
	n          int
	last       uint64
	slowest    time.Duration
	err        error
}

func startCatchupLive(c *state.Committer, prefix string, limit int, timeout time.Duration) *catchupLive {
	w := &catchupLive{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(catchupLiveEvery)
		defer tick.Stop()
		for i := range limit {
			id := prefix + strconv.Itoa(i)
			start := time.Now()
			ops := append(catchupSession(prefix, i),
				state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: "live/" + id, Payload: []byte(id), Retain: true}})
			idx, err := c.Append(ops...)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				err = c.Wait(ctx, idx)
				cancel()
			}
			if err != nil {
				w.err = err
				return
			}
			w.n, w.last, w.slowest = i+1, idx, max(w.slowest, time.Since(start))
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// finish stops the writer and returns once it has.
func (w *catchupLive) finish(tb testing.TB) {
	tb.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		tb.Fatalf("live writer: %v", w.err)
	}
}

// catchupFollower is one run of a Follower.
type catchupFollower struct {
	applied  atomic.Uint64
	installs catchupCounter // "snapshot installed" records
	done     chan error
	cancel   context.CancelFunc
	conn     *grpc.ClientConn
}

func startCatchupFollower(tb testing.TB, store *state.Store, addr string) *catchupFollower {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &catchupFollower{done: make(chan error, 1), cancel: cancel, conn: conn}
	f.applied.Store(store.Applied())
	fl := &Follower{Cluster: "c", Node: "f1", Store: store, Log: slog.New(&f.installs),
		OnApplied: func(a uint64) { f.applied.Store(a) }}
	go func() { f.done <- fl.Run(ctx, pb.NewReplicationClient(conn)) }()
	return f
}

// stop ends the run (the follower is "down") and returns once Run has.
func (f *catchupFollower) stop(tb testing.TB) {
	tb.Helper()
	f.cancel()
	select {
	case <-f.done:
	case <-time.After(catchupStopTimeout):
		tb.Fatal("follower did not stop")
	}
	if err := f.conn.Close(); err != nil {
		tb.Errorf("close follower connection: %v", err)
	}
}

// waitCaughtUp polls until the follower's applied index reaches target()
// and returns the time it took from start.
func (f *catchupFollower) waitCaughtUp(tb testing.TB, start time.Time, timeout time.Duration, target func() uint64) time.Duration {
	tb.Helper()
	deadline := start.Add(timeout)
	for {
		if f.applied.Load() >= target() {
			return time.Since(start)
		}
		select {
		case err := <-f.done:
			tb.Fatalf("follower stopped at %d (target %d): %v", f.applied.Load(), target(), err)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("follower at %d after %v, target %d", f.applied.Load(), timeout, target())
		}
		time.Sleep(catchupPollEvery)
	}
}

// catchupCase runs one follower against srv until it has caught up with
// the leader while the leader appends live entries, then checks that it
// ends identical.
func catchupCase(tb testing.TB, cfg catchupConfig, l *catchupLeader, srv *catchupServer,
	store *state.Store, name, key string) catchupResult {
	tb.Helper()
	r := catchupResult{name: name, key: key}
	from := store.Applied()
	srv.wire.out.Store(0)
	srv.wire.snapEnd.Store(0)
	srv.sends.reset()
	start := time.Now()
	f := startCatchupFollower(tb, store, srv.addr)
	live := startCatchupLive(l.c, key+"-", cfg.live, cfg.timeout)
	r.dur = f.waitCaughtUp(tb, start, cfg.timeout, l.c.Durable)
	r.wire = srv.wire.out.Load()
	reached := f.applied.Load()
	live.finish(tb)
	r.live, r.liveMax = live.n, live.slowest
	f.waitCaughtUp(tb, start, cfg.timeout, func() uint64 { return max(live.last, l.c.Durable()) })
	snaps, snapOps := f.installs.get()
	r.snapshots = snaps
	if snaps > 0 {
		r.ops = snapOps
		r.read = srv.sends.firstAt().Sub(start)
		r.sent = time.Unix(0, srv.wire.snapEnd.Load()).Sub(start)
		r.installed = f.installs.firstAt().Sub(start)
	} else {
		r.ops = logOps(srv.log, from+1, reached)
	}
	a := catchupSame(tb, l.store, store)
	r.sessions, r.retained = len(a.Sessions), len(a.Retained)
	f.stop(tb)
	if sent, _ := srv.sends.get(); sent != snaps {
		tb.Errorf("%s: the leader sent %d snapshots, the follower installed %d", name, sent, snaps)
	}
	return r
}

// logOps counts the ops of entries from..to in log.
func logOps(log *Log, from, to uint64) int {
	n := 0
	for from <= to {
		entries, ok := log.From(from, maxEntriesPerMsg)
		if !ok || len(entries) == 0 {
			return n
		}
		for _, e := range entries {
			if e.Index > to {
				return n
			}
			n += len(e.Ops)
		}
		from = entries[len(entries)-1].Index + 1
	}
	return n
}

// catchupSame fails unless both stores hold the same state and returns it.
func catchupSame(tb testing.TB, leader, follower *state.Store) *state.Snapshot {
	tb.Helper()
	a, err := leader.Load()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := follower.Load()
	if err != nil {
		tb.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		tb.Fatalf("follower differs from the leader:\nleader   applied %d epoch %d seq %d: %d sessions %d subs %d msgs %d deliveries %d retained (%d ops)\nfollower applied %d epoch %d seq %d: %d sessions %d subs %d msgs %d deliveries %d retained (%d ops)",
			a.Applied, a.AppliedEpoch, a.MsgSeq, len(a.Sessions), len(a.Subs), len(a.Msgs), len(a.Deliveries), len(a.Retained), len(a.Ops()),
			b.Applied, b.AppliedEpoch, b.MsgSeq, len(b.Sessions), len(b.Subs), len(b.Msgs), len(b.Deliveries), len(b.Retained), len(b.Ops()))
	}
	if len(a.Subs) != len(a.Sessions) {
		tb.Fatalf("%d subscriptions for %d sessions", len(a.Subs), len(a.Sessions))
	}
	return a
}

// runCatchup runs the three cases and checks what each must have done.
func runCatchup(tb testing.TB, cfg catchupConfig) (results []catchupResult, leaderBytes int64) {
	tb.Helper()
	// Each entry of the down follower's gap weighs about 13 KB in the log's
	// estimate; the short log holds half of them, and well over the live
	// entries that follow a snapshot.
	behindBytes := (2*cfg.behind + catchupBehindOps - 1) / catchupBehindOps * entrySize(state.Entry{Ops: make([]state.Op, catchupBehindOps)})
	l := startCatchupLeader(tb, cfg, behindBytes/2)
	dir := tb.TempDir() // the wiped data directory
	store, err := state.Open(dir, state.Options{NoSync: cfg.noSync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := store.Close(); err != nil {
			tb.Errorf("close follower store: %v", err)
		}
	})

	wiped := catchupCase(tb, cfg, l, l.full, store, "wiped", "wiped")
	wiped.file = catchupFileSize(tb, dir)
	if wiped.snapshots == 0 {
		tb.Errorf("wiped: the follower got no snapshot")
	}
	l.appendBehind(tb, "b1-", cfg.behind, cfg.timeout)
	within := catchupCase(tb, cfg, l, l.full, store, "down, within log", "down-log")
	within.file = catchupFileSize(tb, dir)
	if within.snapshots != 0 {
		tb.Errorf("down, within log: the follower got %d snapshots, want entries only", within.snapshots)
	}
	l.appendBehind(tb, "b2-", cfg.behind, cfg.timeout)
	beyond := catchupCase(tb, cfg, l, l.short, store, "down, beyond log", "down-snap")
	beyond.file = catchupFileSize(tb, dir)
	if beyond.snapshots == 0 {
		tb.Errorf("down, beyond log: the follower got no snapshot")
	}
	return []catchupResult{wiped, within, beyond}, catchupFileSize(tb, l.dir)
}

func catchupFileSize(tb testing.TB, dir string) int64 {
	tb.Helper()
	fi, err := os.Stat(filepath.Join(dir, state.FileName))
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

func logCatchup(tb testing.TB, results []catchupResult, leaderBytes int64) {
	tb.Helper()
	tb.Logf("leader state file %.1f MB", float64(leaderBytes)/1e6)
	tb.Logf("| case | sessions | retained | catch-up | ops/s | snapshots | ops sent | MB sent | snapshot read | sent | installed | live entries | slowest live | follower file MB |")
	tb.Logf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	for _, r := range results {
		tb.Logf("| %s | %d | %d | %.2f s | %.0f | %d | %d | %.1f | %v | %v | %v | %d | %v | %.1f |", r.name, r.sessions, r.retained,
			r.dur.Seconds(), r.opsPerSec(), r.snapshots, r.ops, float64(r.wire)/1e6, ms(r.read), ms(r.sent), ms(r.installed),
			r.live, ms(r.liveMax), float64(r.file)/1e6)
	}
}

// TestCatchupSnapshotSmall checks the three catch-up cases on a small
// state: the follower ends identical to the leader each time.
func TestCatchupSnapshotSmall(t *testing.T) {
	cfg := catchupConfig{n: 2000, behind: 300, live: 30, noSync: true, timeout: 30 * time.Second}
	results, size := runCatchup(t, cfg)
	logCatchup(t, results, size)
}

// BenchmarkCatchup measures a follower's catch-up with TRIAD_CATCHUP_N
// (default 100000) sessions and retained messages, with fsync:
//
//	go test -run '^$' -bench BenchmarkCatchup -benchtime 1x ./sync/
//
// ns/op covers the whole run, filling the leader included; the figures
// are the reported metrics and the logged table.
func BenchmarkCatchup(b *testing.B) {
	n := 100_000
	if v := os.Getenv("TRIAD_CATCHUP_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("TRIAD_CATCHUP_N=%q: want a positive integer", v)
		}
	}
	cfg := catchupConfigFor(n)
	var results []catchupResult
	var size int64
	for range b.N {
		results, size = runCatchup(b, cfg)
	}
	logCatchup(b, results, size)
	for _, r := range results {
		b.ReportMetric(r.dur.Seconds(), r.key+"-s")
		b.ReportMetric(r.opsPerSec(), r.key+"-ops/s")
	}
	b.ReportMetric(float64(results[0].wire)/1e6, "snapshot-MB")
	b.ReportMetric(float64(size)/1e6, "leader-db-MB")
}

// catchupWire counts the bytes a gRPC server sends and notes when it
// sent the end of a snapshot.
type catchupWire struct {
	out     atomic.Int64
	snapEnd atomic.Int64 // unix nanoseconds
}

func (w *catchupWire) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w *catchupWire) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (w *catchupWire) HandleConn(context.Context, stats.ConnStats) {}
func (w *catchupWire) HandleRPC(_ context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.OutPayload); ok {
		w.out.Add(int64(p.WireLength))
		if m, ok := p.Payload.(*pb.LeaderMessage); ok && m.GetSnapshotEnd() != nil {
			w.snapEnd.Store(p.SentTime.UnixNano())
		}
	}
}

// catchupCounter is a slog handler counting the snapshots a leader sent
// or a follower installed, and their ops.
type catchupCounter struct {
	mu      gosync.Mutex
	snaps   int
	snapOps int
	first   time.Time // of the first snapshot record
}

func (c *catchupCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *catchupCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *catchupCounter) WithGroup(string) slog.Handler            { return c }

func (c *catchupCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "sending snapshot" && r.Message != "snapshot installed" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snaps++; c.snaps == 1 {
		c.first = r.Time
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "ops" {
			c.snapOps += int(a.Value.Int64())
		}
		return true
	})
	return nil
}

func (c *catchupCounter) get() (snaps, ops int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snaps, c.snapOps
}

func (c *catchupCounter) firstAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func (c *catchupCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snaps, c.snapOps, c.first = 0, 0, time.Time{}
}
