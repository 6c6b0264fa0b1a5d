package state

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testTimeout bounds every wait in these tests; nothing should come close.
const testTimeout = 10 * time.Second

// testLockTimeout is short so that a leaked file handle fails a test fast
// instead of hanging it.
const testLockTimeout = 200 * time.Millisecond

func openStoreOpts(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() {
		// Close is idempotent in bbolt; tests that reopen close explicitly.
		if err := s.Close(); err != nil {
			t.Errorf("close store at cleanup: %v", err)
		}
	})
	return s
}

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	return openStoreOpts(t, dir, Options{LockTimeout: testLockTimeout})
}

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openStore(t, dir), dir
}

func closeStore(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
}

// mustApply applies each ops list as the next entry, one Apply call each.
func mustApply(t *testing.T, s *Store, entries ...[]Op) {
	t.Helper()
	for _, ops := range entries {
		e := Entry{Index: s.Applied() + 1, Ops: ops}
		if err := s.Apply([]Entry{e}); err != nil {
			t.Fatalf("apply entry %d: %v", e.Index, err)
		}
	}
}

func mustLoad(t *testing.T, s *Store) *Snapshot {
	t.Helper()
	snap, err := s.Load()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return snap
}

// Op constructors, to keep the tables short.

func putSession(id string) Op {
	return Op{Kind: OpSessionPut, Session: &Session{ClientID: id, ProtocolVersion: 5}}
}

func delSession(id string) Op { return Op{Kind: OpSessionDelete, ClientID: id} }

func putSub(id, filter string) Op {
	return Op{Kind: OpSubPut, Sub: &Subscription{ClientID: id, Filter: filter, QoS: 1}}
}

func delSub(id, filter string) Op { return Op{Kind: OpSubDelete, ClientID: id, Filter: filter} }

func acceptMsg(id uint64) Op {
	return Op{Kind: OpMsgAccept, Msg: &Message{ID: id, Topic: fmt.Sprintf("t/%d", id), QoS: 1}}
}

func routeMsg(id uint64) Op { return Op{Kind: OpMsgRouted, MsgID: id} }

func putDeliv(client string, id uint64, st DeliveryState) Op {
	return Op{Kind: OpDeliveryPut, Delivery: &Delivery{ClientID: client, MsgID: id, PacketID: uint16(id), QoS: 1, State: st}}
}

func doneDeliv(client string, id uint64) Op {
	return Op{Kind: OpDeliveryDone, ClientID: client, MsgID: id}
}

func putInbound(client string, pid uint16) Op {
	return Op{Kind: OpInboundPut, Inbound: &Inbound{ClientID: client, PacketID: pid}}
}

func delInbound(client string, pid uint16) Op {
	return Op{Kind: OpInboundDelete, ClientID: client, PacketID: pid}
}

func putRetained(topic string) Op {
	return Op{Kind: OpRetainedPut, Msg: &Message{Topic: topic, Payload: []byte("p"), Retain: true}}
}

func delRetained(topic string) Op { return Op{Kind: OpRetainedDelete, Topic: topic} }

// view is a compact, order-independent summary of a snapshot.
type view struct {
	Sessions   []string // client ids
	Subs       []string // "client filter"
	Msgs       []string // "id" or "id routed"
	Deliveries []string // "client id state"
	Inbound    []string // "client packetID"
	Retained   []string // topics
}

func viewOf(snap *Snapshot) view {
	var v view
	for _, s := range snap.Sessions {
		v.Sessions = append(v.Sessions, s.ClientID)
	}
	for _, s := range snap.Subs {
		v.Subs = append(v.Subs, s.ClientID+" "+s.Filter)
	}
	for id, m := range snap.Msgs {
		s := fmt.Sprint(id)
		if m.Routed {
			s += " routed"
		}
		v.Msgs = append(v.Msgs, s)
	}
	for _, d := range snap.Deliveries {
		v.Deliveries = append(v.Deliveries, fmt.Sprintf("%s %d %s", d.ClientID, d.MsgID, d.State))
	}
	for _, in := range snap.Inbound {
		v.Inbound = append(v.Inbound, fmt.Sprintf("%s %d", in.ClientID, in.PacketID))
	}
	for _, r := range snap.Retained {
		v.Retained = append(v.Retained, r.Topic)
	}
	for _, l := range []*[]string{&v.Sessions, &v.Subs, &v.Msgs, &v.Deliveries, &v.Inbound, &v.Retained} {
		slices.Sort(*l)
	}
	return v
}

// mustView checks the store's internal invariants and returns its view.
func mustView(t *testing.T, s *Store) view {
	t.Helper()
	checkInvariants(t, s)
	return viewOf(mustLoad(t, s))
}

func checkView(t *testing.T, s *Store, want view) {
	t.Helper()
	if got := mustView(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("state mismatch\n got: %+v\nwant: %+v", got, want)
	}
}

// checkInvariants verifies what Apply must keep true between transactions:
// records live under the key their fields give, msgrefs holds exactly one
// key per delivery, and no routed message outlives its last delivery.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSubs).ForEach(func(k, v []byte) error {
			var sub Subscription
			if err := json.Unmarshal(v, &sub); err != nil {
				return err
			}
			if !bytes.Equal(k, subKey(sub.ClientID, sub.Filter)) {
				return fmt.Errorf("subscription %+v under key %x", sub, k)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketInbound).ForEach(func(k, v []byte) error {
			var in Inbound
			if err := json.Unmarshal(v, &in); err != nil {
				return err
			}
			if !bytes.Equal(k, inboundKey(in.ClientID, in.PacketID)) {
				return fmt.Errorf("inbound %+v under key %x", in, k)
			}
			return nil
		}); err != nil {
			return err
		}
		refs := map[string]bool{}
		if err := tx.Bucket(bucketDeliv).ForEach(func(k, v []byte) error {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if !bytes.Equal(k, delivKey(d.ClientID, d.MsgID)) {
				return fmt.Errorf("delivery %+v under key %x", d, k)
			}
			refs[string(refKey(d.MsgID, d.ClientID))] = true
			return nil
		}); err != nil {
			return err
		}
		refBucket := tx.Bucket(bucketRefs)
		if err := refBucket.ForEach(func(k, _ []byte) error {
			if !refs[string(k)] {
				return fmt.Errorf("msgref %x has no delivery", k)
			}
			delete(refs, string(k))
			return nil
		}); err != nil {
			return err
		}
		for k := range refs {
			return fmt.Errorf("delivery without msgref %x", k)
		}
		routed := tx.Bucket(bucketRouted)
		if err := routed.ForEach(func(k, _ []byte) error {
			if tx.Bucket(bucketMsgs).Get(k) == nil {
				return fmt.Errorf("routed flag %x without its message", k)
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketMsgs).ForEach(func(k, v []byte) error {
			var m Message
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			if !bytes.Equal(k, msgKey(m.ID)) {
				return fmt.Errorf("message %d under key %x", m.ID, k)
			}
			if routed.Get(k) != nil && !hasPrefix(refBucket, msgKey(m.ID)) {
				return fmt.Errorf("routed message %d has no deliveries but was kept", m.ID)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("store invariant broken: %v", err)
	}
}

// waitFor polls cond until it holds or testTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// waitClosed waits up to testTimeout for ch to be closed.
func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitBlocked polls the goroutine dump until a goroutine is parked in a
// select inside the function named fn. It lets a test change what a blocked
// call waits for only once it is really blocked.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	waitFor(t, "a goroutine blocked in "+fn, func() bool {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(header, "[select") && strings.Contains(g, fn) {
				return true
			}
		}
		return false
	})
}

// closeOnce closes ch unless it is closed already (single goroutine only).
func closeOnce(ch chan struct{}) {
	if !isClosed(ch) {
		close(ch)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// gate holds the committer's writer after its first wake-up (through the
// MaxBatchAge hook) until released, so that everything appended before
// release is queued, untaken, when the writer goes on. Once released it stays
// open. It records the durations the writer asked to wait.
type gate struct {
	ch       chan time.Time
	once     sync.Once
	mu       sync.Mutex
	requests []time.Duration
}

func newGate() *gate { return &gate{ch: make(chan time.Time)} }

func (g *gate) after(d time.Duration) <-chan time.Time {
	g.mu.Lock()
	g.requests = append(g.requests, d)
	g.mu.Unlock()
	return g.ch
}

func (g *gate) release() { g.once.Do(func() { close(g.ch) }) }

func (g *gate) waits() []time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

// commitLog records OnCommit calls.
type commitLog struct {
	mu    sync.Mutex
	stats []CommitStats
}

func (l *commitLog) record(s CommitStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats = append(l.stats, s)
}

func (l *commitLog) all() []CommitStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.stats)
}

// startCommitter starts a committer that is closed at cleanup (tests that
// care about Close's result call it themselves; Close may be repeated).
func startCommitter(t *testing.T, s *Store, opts CommitterOptions) *Committer {
	t.Helper()
	c := NewCommitter(s, opts)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("committer close at cleanup: %v", err)
		}
	})
	return c
}

// startGated starts a committer whose first batch waits for g.release. If
// opts.MaxBatchAge is zero it is set to an hour; the gate never waits for it.
func startGated(t *testing.T, s *Store, opts CommitterOptions) (*Committer, *gate) {
	t.Helper()
	g := newGate()
	if opts.MaxBatchAge == 0 {
		opts.MaxBatchAge = time.Hour
	}
	opts.after = g.after
	c := NewCommitter(s, opts)
	t.Cleanup(func() {
		g.release()
		if err := c.Close(); err != nil {
			t.Logf("committer close at cleanup: %v", err)
		}
	})
	return c, g
}

func mustAppend(t *testing.T, c *Committer, ops ...Op) uint64 {
	t.Helper()
	idx, err := c.Append(ops...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return idx
}

func mustWait(t *testing.T, c *Committer, idx uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Wait(ctx, idx); err != nil {
		t.Fatalf("wait for %d: %v", idx, err)
	}
}

// subOps returns n distinct subscription puts for client.
func subOps(client string, n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = putSub(client, fmt.Sprintf("f/%d", i))
	}
	return ops
}
