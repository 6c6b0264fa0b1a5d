package sync

import (
	"fmt"
	"log/slog"
	gosync "sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// Sizes of what a leader sends in one message: at most so many entries or
// ops, and no more than maxMsgBytes unless a single entry or op is larger
// (it is sent alone; followers accept messages up to MaxRecvMsgSize).
const (
	maxEntriesPerMsg  = 512
	maxOpsPerSnapshot = 1024
	maxMsgBytes       = 1 << 20
)

// Leader serves the replication stream to followers: a snapshot when a
// follower cannot continue from the log, then every durable entry. Every
// message carries the leader's epoch, the first also its protocol
// versions; a follower whose protocol it cannot speak with is refused.
type Leader struct {
	pb.UnimplementedReplicationServer

	// Protocol is the replication protocol this leader speaks and the
	// oldest follower version it accepts; zero means this release's
	// (ProtocolVersion, MinProtocolVersion). Set it before serving.
	Protocol ProtocolRange
	// OnHello, if set, is called with each admitted follower's applied
	// index as its stream opens (Quorum.Rejoined). Set it before serving.
	OnHello func(node string, applied uint64)
	// OnControl, if set, runs the dynamic-security control requests other
	// nodes forward (cluster.mode dynsec; control.go). Set it before
	// serving.
	OnControl ControlFunc

	cluster string
	epoch   int64
	store   *state.Store // read only (snapshots), concurrently with the committer
	log     *Log
	slog    *slog.Logger
	onAck   func(node string, applied uint64)

	mu        gosync.Mutex
	acked     map[string]uint64
	connected map[string]int // open streams per follower
}

// NewLeader serves entries of log (and snapshots of store) as the leader
// of epoch. onAck, if set, is called with each follower's durable applied
// index as it reports it.
func NewLeader(cluster string, epoch int64, store *state.Store, log *Log, lg *slog.Logger, onAck func(string, uint64)) *Leader {
	return &Leader{cluster: cluster, epoch: epoch, store: store, log: log, slog: lg, onAck: onAck,
		acked: map[string]uint64{}, connected: map[string]int{}}
}

// Connected lists the followers with an open stream.
func (l *Leader) Connected() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.connected))
	for f := range l.connected {
		out = append(out, f)
	}
	return out
}

// Acked returns each connected follower's last reported applied index.
func (l *Leader) Acked() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]uint64, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// Stream is one follower's replication stream.
func (l *Leader) Stream(srv pb.Replication_StreamServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	h := first.GetHello()
	if h == nil {
		return status.Error(codes.InvalidArgument, "the first message must be a hello")
	}
	log := l.slog.With("follower", h.Node)
	protocol, err := l.admit(h, log)
	if err != nil {
		return err
	}
	if l.OnHello != nil {
		l.OnHello(h.Node, h.Applied)
	}
	ctx := srv.Context()
	l.mu.Lock()
	l.connected[h.Node]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.connected[h.Node]--; l.connected[h.Node] <= 0 {
			delete(l.connected, h.Node)
		}
		l.mu.Unlock()
	}()
	errc := make(chan error, 1)
	go func() { errc <- l.readAcks(srv, h.Node) }()

	// The first message carries this leader's protocol versions.
	p := l.Protocol.resolved()
	head := &pb.LeaderMessage{Epoch: l.epoch, ProtocolVersion: p.Version, MinProtocolVersion: p.Min}
	next := h.Applied + 1
	if !l.log.Continues(h.Applied, h.AppliedEpoch) {
		if next, err = l.sendSnapshot(srv, log, head); err != nil {
			return err
		}
	} else {
		head.Body = &pb.LeaderMessage_Entries{Entries: &pb.Entries{}}
		if err := srv.Send(head); err != nil {
			return err // an empty batch: the follower acks where it stands, which is on this leader's log
		}
	}
	log.Info("follower streaming", "from", next, "protocol", protocol)
	for {
		changed := l.log.Changed()
		body, n, last, ok, err := l.log.encodedFrom(next, maxEntriesPerMsg, maxMsgBytes)
		if err != nil {
			return err
		}
		if !ok {
			log.Info("follower fell behind the log; sending a snapshot", "next", next)
			if next, err = l.sendSnapshot(srv, log, &pb.LeaderMessage{Epoch: l.epoch}); err != nil {
				return err
			}
			continue
		}
		if n > 0 {
			// On the wire, a pb.LeaderMessage with these Entries.
			if err := srv.SendMsg(&pb.LeaderEntriesEncoded{Epoch: l.epoch, Entries: body}); err != nil {
				return err
			}
			next = last + 1
			continue
		}
		select {
		case <-changed:
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// admit checks a follower's hello: its cluster, its name, the epochs it
// has seen and its protocol version. It returns the protocol version the
// two speak, or the refusal to end the stream with.
func (l *Leader) admit(h *pb.Hello, log *slog.Logger) (uint32, error) {
	switch {
	case h.Cluster != l.cluster:
		log.Warn("replication refused: another cluster", "their_cluster", h.Cluster)
		return 0, status.Errorf(codes.PermissionDenied, "cluster %q is not this leader's cluster %q", h.Cluster, l.cluster)
	case h.Node == "":
		return 0, status.Error(codes.InvalidArgument, "hello without a node name")
	case h.HighestEpoch > l.epoch:
		log.Warn("replication refused: the follower has seen a newer epoch; this leader is stale",
			"their_epoch", h.HighestEpoch, "epoch", l.epoch)
		return 0, status.Errorf(codes.FailedPrecondition, "follower has seen epoch %d, above this leader's %d", h.HighestEpoch, l.epoch)
	}
	ours, theirs := l.Protocol.resolved(), peerProtocol(h.ProtocolVersion, h.MinProtocolVersion)
	v, ok := agreedProtocol(ours, theirs)
	if !ok {
		msg, fix := followerRefusal(h.Node, ours, theirs)
		log.Warn("replication refused: incompatible protocol version",
			"their_protocol", theirs.Version, "their_min_protocol", theirs.Min,
			"protocol", ours.Version, "min_protocol", ours.Min, "fix", fix)
		return 0, status.Error(codes.FailedPrecondition, msg)
	}
	return v, nil
}

func (l *Leader) readAcks(srv pb.Replication_StreamServer, node string) error {
	for {
		m, err := srv.Recv()
		if err != nil {
			return err
		}
		a := m.GetAck()
		if a == nil {
			return status.Error(codes.InvalidArgument, "after the hello only acks are accepted")
		}
		l.mu.Lock()
		l.acked[node] = a.Applied
		l.mu.Unlock()
		if l.onAck != nil {
			l.onAck(node, a.Applied)
		}
	}
}

// sendSnapshot streams the whole state, read in one transaction, and
// returns the index after it. head is the message that carries the
// SnapshotBegin (with the protocol versions if it opens the stream).
func (l *Leader) sendSnapshot(srv pb.Replication_StreamServer, log *slog.Logger, head *pb.LeaderMessage) (uint64, error) {
	snap, err := l.store.Load()
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	ops := snap.Ops()
	log.Info("sending snapshot", "index", snap.Applied, "ops", len(ops))
	begin := &pb.SnapshotBegin{Index: snap.Applied, EntryEpoch: snap.AppliedEpoch, MsgSeq: snap.MsgSeq}
	head.Body = &pb.LeaderMessage_SnapshotBegin{SnapshotBegin: begin}
	if err := srv.Send(head); err != nil {
		return 0, err
	}
	for len(ops) > 0 {
		chunk := &pb.SnapshotChunk{Ops: make([]*pb.Op, 0, min(len(ops), maxOpsPerSnapshot))}
		size := 0
		for len(ops) > 0 && len(chunk.Ops) < maxOpsPerSnapshot && (size < maxMsgBytes || len(chunk.Ops) == 0) {
			po, err := OpToPB(&ops[0])
			if err != nil {
				return 0, fmt.Errorf("snapshot: %w", err)
			}
			size += proto.Size(po)
			chunk.Ops = append(chunk.Ops, po)
			ops = ops[1:]
		}
		if err := srv.Send(&pb.LeaderMessage{Epoch: l.epoch, Body: &pb.LeaderMessage_SnapshotChunk{SnapshotChunk: chunk}}); err != nil {
			return 0, err
		}
	}
	if err := srv.Send(&pb.LeaderMessage{Epoch: l.epoch, Body: &pb.LeaderMessage_SnapshotEnd{SnapshotEnd: &pb.SnapshotEnd{}}}); err != nil {
		return 0, err
	}
	return snap.Applied + 1, nil
}
