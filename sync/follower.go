package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// ErrStaleLeader ends a follower's stream from a leader whose epoch is
// below one the follower has already seen.
var ErrStaleLeader = errors.New("replication: leader of a stale epoch")

// Follower applies a leader's stream to the local store: strictly in
// order, the applied index and the state change in one transaction, each
// batch acknowledged once durable.
type Follower struct {
	Cluster string
	Node    string
	Store   *state.Store // owned by the follower while Run runs
	Log     *slog.Logger
	// OnApplied, optional, is called after each durable batch with the
	// new applied index.
	OnApplied func(applied uint64)
	// Metrics, optional, receive the size of every apply transaction.
	Metrics *FollowerMetrics
	// OnDynsec, optional, receives the dynamic-security configuration
	// once a batch or snapshot that sets it is durable, with the index
	// of the entry (or snapshot) that did, and whose connections the
	// batch's changes close (nil: none named, as after a snapshot).
	OnDynsec func(idx uint64, file []byte, kicks *state.DynsecKicks)
	// Protocol is the replication protocol this follower speaks and the
	// oldest leader version it accepts; zero means this release's
	// (ProtocolVersion, MinProtocolVersion).
	Protocol ProtocolRange
	// OnStore, optional, is told how each write to the store went: the
	// error of one that failed on the disk (full, read-only, I/O error),
	// nil after one that succeeded. The stream ends with such an error and
	// is tried again; the node reports itself unhealthy meanwhile.
	OnStore func(err error)

	highest int64  // highest epoch seen
	refused string // the last leader refusal logged at Warn
}

// Run streams from a leader through client until the stream ends or ctx
// is cancelled. It returns the reason the stream ended; a leader whose
// protocol version this follower does not support ends it with
// ErrProtocolVersion before anything is applied.
func (f *Follower) Run(ctx context.Context, client pb.ReplicationClient) error {
	f.highest = max(f.highest, f.Store.AppliedEpoch())
	ctx, cancel := context.WithCancel(ctx) // ends the stream and its reader with Run
	defer cancel()
	stream, err := client.Stream(ctx)
	if err != nil {
		return fmt.Errorf("replication: open stream: %w", err)
	}
	p := f.Protocol.resolved()
	hello := &pb.Hello{Cluster: f.Cluster, Node: f.Node, Applied: f.Store.Applied(),
		AppliedEpoch: f.Store.AppliedEpoch(), HighestEpoch: f.highest,
		ProtocolVersion: p.Version, MinProtocolVersion: p.Min}
	if err := stream.Send(&pb.FollowerMessage{Body: &pb.FollowerMessage_Hello{Hello: hello}}); err != nil {
		return fmt.Errorf("replication: hello: %w", err)
	}
	msgs, recvErr := receive(ctx, stream)
	var snap *pendingSnapshot
	var batch []*pb.Entry
	for first := true; ; first = false {
		m, ok := <-msgs
		if !ok {
			return fmt.Errorf("replication: receive: %w", <-recvErr)
		}
		if first {
			if err := f.checkLeader(ctx, m); err != nil {
				return err
			}
		}
		// Group commit: every entries message already received goes into
		// one transaction and one acknowledgement.
		for {
			if m.Epoch < f.highest {
				return fmt.Errorf("%w: got epoch %d, already saw %d", ErrStaleLeader, m.Epoch, f.highest)
			}
			f.highest = m.Epoch
			e, isEntries := m.Body.(*pb.LeaderMessage_Entries)
			if !isEntries || snap != nil {
				break
			}
			batch = append(batch, e.Entries.Entries...)
			select {
			case next, more := <-msgs:
				if !more {
					m = nil
				} else {
					m = next
				}
			default:
				m = nil
			}
			if m == nil {
				break
			}
		}
		if err := f.apply(batch); err != nil {
			return err
		}
		batch = batch[:0]
		if m != nil {
			if err := f.handle(m, &snap); err != nil {
				return err
			}
		}
		if snap == nil {
			if err := f.ack(stream); err != nil {
				return err
			}
		}
	}
}

// receive reads the leader's messages ahead of the apply loop until the
// stream or ctx ends; the reason is then sent on errc and msgs closed.
func receive(ctx context.Context, stream pb.Replication_StreamClient) (msgs <-chan *pb.LeaderMessage, errc <-chan error) {
	out := make(chan *pb.LeaderMessage, followerQueue)
	recvErr := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case out <- m:
			case <-ctx.Done():
				recvErr <- ctx.Err()
				return
			}
		}
	}()
	return out, recvErr
}

// checkLeader checks the protocol versions of the leader's first message.
// A refusal is logged at Warn once, then at Debug while it repeats: the
// node retries several times a second until the leader is upgraded.
func (f *Follower) checkLeader(ctx context.Context, first *pb.LeaderMessage) error {
	ours, theirs := f.Protocol.resolved(), peerProtocol(first.ProtocolVersion, first.MinProtocolVersion)
	v, ok := agreedProtocol(theirs, ours)
	if ok {
		f.refused = ""
		f.Log.Debug("replication protocol agreed", "protocol", v,
			"their_protocol", theirs.Version, "their_min_protocol", theirs.Min)
		return nil
	}
	msg, fix := leaderRefusal(f.Node, theirs, ours)
	level := slog.LevelWarn
	if msg == f.refused {
		level = slog.LevelDebug
	}
	f.refused = msg
	f.Log.Log(ctx, level, "replication refused: the leader's protocol version is not supported",
		"their_protocol", theirs.Version, "their_min_protocol", theirs.Min,
		"protocol", ours.Version, "min_protocol", ours.Min, "fix", fix)
	return fmt.Errorf("%w: %s", ErrProtocolVersion, msg)
}

// handle deals with a message that is not a batch of entries.
func (f *Follower) handle(m *pb.LeaderMessage, snap **pendingSnapshot) error {
	switch b := m.Body.(type) {
	case *pb.LeaderMessage_Entries:
		if *snap != nil {
			return errors.New("replication: entries inside a snapshot")
		}
		return f.apply(b.Entries.Entries)
	case *pb.LeaderMessage_SnapshotBegin:
		*snap = &pendingSnapshot{begin: b.SnapshotBegin}
	case *pb.LeaderMessage_SnapshotChunk:
		if *snap == nil {
			return errors.New("replication: snapshot chunk without a beginning")
		}
		for _, po := range b.SnapshotChunk.Ops {
			o, err := OpFromPB(po)
			if err != nil {
				return fmt.Errorf("replication: snapshot: %w", err)
			}
			(*snap).ops = append((*snap).ops, o)
		}
	case *pb.LeaderMessage_SnapshotEnd:
		if *snap == nil {
			return errors.New("replication: snapshot end without a beginning")
		}
		sb := (*snap).begin
		if err := f.stored(f.Store.Replace(sb.Index, sb.EntryEpoch, sb.MsgSeq, (*snap).ops)); err != nil {
			return err
		}
		f.Log.Info("snapshot installed", "index", sb.Index, "ops", len((*snap).ops))
		if f.OnDynsec != nil {
			if data := lastDynsec((*snap).ops); data != nil {
				f.OnDynsec(sb.Index, data, nil)
			}
		}
		*snap = nil
	default:
		return fmt.Errorf("replication: unexpected message %T", m.Body)
	}
	return nil
}

// stored reports the outcome of a store write to OnStore and returns err.
// Only disk failures (an errno from the file system) count: an entry out
// of order or of a stale epoch is the stream's fault, not the disk's.
func (f *Follower) stored(err error) error {
	var errno syscall.Errno
	switch {
	case f.OnStore == nil:
	case err == nil:
		f.OnStore(nil)
	case errors.As(err, &errno):
		f.OnStore(err)
	}
	return err
}

// followerQueue bounds the messages received ahead of the apply loop.
const followerQueue = 1024

type pendingSnapshot struct {
	begin *pb.SnapshotBegin
	ops   []state.Op
}

func (f *Follower) apply(pes []*pb.Entry) error {
	if len(pes) == 0 {
		return nil
	}
	entries := make([]state.Entry, 0, len(pes))
	for _, pe := range pes {
		e, err := EntryFromPB(pe)
		if err != nil {
			return fmt.Errorf("replication: %w", err)
		}
		entries = append(entries, e)
	}
	if err := f.stored(f.Store.Apply(entries)); err != nil {
		return fmt.Errorf("replication: %w", err)
	}
	f.Metrics.observeApply(len(entries))
	if f.OnDynsec != nil {
		for i := len(entries) - 1; i >= 0; i-- {
			if data := lastDynsec(entries[i].Ops); data != nil {
				f.OnDynsec(entries[i].Index, data, batchKicks(entries[:i+1]))
				break
			}
		}
	}
	return nil
}

// batchKicks merges the kicks of the dynsec ops of entries (nil: none).
// A requester is spared only if every change that names kicks spares it.
func batchKicks(entries []state.Entry) *state.DynsecKicks {
	var out *state.DynsecKicks
	seen := map[string]bool{}
	for _, e := range entries {
		for _, op := range e.Ops {
			k := op.Kicks
			if op.Kind != state.OpDynsecPut || k == nil {
				continue
			}
			if out == nil {
				out = &state.DynsecKicks{SpareNode: k.SpareNode, SpareClient: k.SpareClient}
			} else if out.SpareNode != k.SpareNode || out.SpareClient != k.SpareClient {
				out.SpareNode, out.SpareClient = "", ""
			}
			out.Anonymous = out.Anonymous || k.Anonymous
			for _, u := range k.Usernames {
				if !seen[u] {
					seen[u] = true
					out.Usernames = append(out.Usernames, u)
				}
			}
		}
	}
	return out
}

// lastDynsec returns the configuration of the last dynsec op of ops, or nil.
func lastDynsec(ops []state.Op) []byte {
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].Kind == state.OpDynsecPut {
			return ops[i].Dynsec
		}
	}
	return nil
}

func (f *Follower) ack(stream pb.Replication_StreamClient) error {
	applied := f.Store.Applied()
	if f.OnApplied != nil {
		f.OnApplied(applied)
	}
	return stream.Send(&pb.FollowerMessage{Body: &pb.FollowerMessage_Ack{Ack: &pb.Ack{Applied: applied}}})
}
