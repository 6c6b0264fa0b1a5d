package election

import (
	"fmt"
	"strings"
)

// Keys are the etcd keys of one cluster, all under /triad/<cluster>/:
//
//	leader          the leader record (Leader), attached to the leader's lease;
//	                its create revision is the epoch
//	nodes/<name>    each node's status (NodeStatus), attached to its lease
//	pin             the pinned node's name (no lease)
//	pause           present while automatic leader changes are paused
//	switchover      a pending operator request (Request), no lease
//	handover        the leader's hand-over to a named successor (Handover),
//	                written as it steps down
//	history/<epoch> one HistoryEntry per leadership change, epoch zero-padded
//	insync          the replication in-sync set (InSync), written by the
//	                leader under its epoch
type Keys struct {
	Prefix string // "/triad/<cluster>/"
}

// NewKeys returns the keys of cluster.
func NewKeys(cluster string) Keys { return Keys{Prefix: "/triad/" + cluster + "/"} }

func (k Keys) Leader() string               { return k.Prefix + "leader" }
func (k Keys) Nodes() string                { return k.Prefix + "nodes/" }
func (k Keys) Node(name string) string      { return k.Prefix + "nodes/" + name }
func (k Keys) Pin() string                  { return k.Prefix + "pin" }
func (k Keys) Pause() string                { return k.Prefix + "pause" }
func (k Keys) Switchover() string           { return k.Prefix + "switchover" }
func (k Keys) Handover() string             { return k.Prefix + "handover" }
func (k Keys) InSync() string               { return k.Prefix + "insync" }
func (k Keys) History() string              { return k.Prefix + "history/" }
func (k Keys) HistoryAt(epoch int64) string { return fmt.Sprintf("%shistory/%020d", k.Prefix, epoch) }

// NodeName returns the node name of a nodes/<name> key.
func (k Keys) NodeName(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, k.Nodes())
	return name, ok && name != ""
}
