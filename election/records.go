package election

import "time"

// Role is what a node is doing in its cluster.
type Role string

const (
	RoleStandalone Role = "standalone" // no cluster configured
	RoleFollower   Role = "follower"   // in the cluster, not serving MQTT
	RoleCandidate  Role = "candidate"  // trying to become leader
	RoleLeader     Role = "leader"     // holds the lease; serves MQTT
	RoleStopping   Role = "stopping"   // shutting down
)

// Leader is the value of the leader key.
type Leader struct {
	Node   string    `json:"node"`
	Lease  int64     `json:"lease"`  // lease id, decimal
	Since  time.Time `json:"since"`  // when it took leadership
	Reason string    `json:"reason"` // why it leads: election, switchover, failover, pin
}

// NodeStatus is what each node publishes under nodes/<name>, on its lease:
// for peers, for triadctl and for the load-balancer agent.
type NodeStatus struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Epoch   int64     `json:"epoch"`   // the epoch it leads, or the last it saw
	Healthy bool      `json:"healthy"` // its store and engine are sound
	InSync  bool      `json:"in_sync"` // its state is complete (until replication: healthy)
	Applied uint64    `json:"applied"` // applied index of its state store
	Version string    `json:"version"`
	MQTT    []string  `json:"mqtt"`                  // client-facing listener addresses
	Repl    string    `json:"replication,omitempty"` // replication address followers dial while it leads
	HTTP    string    `json:"http"`                  // health endpoint address
	Mode    string    `json:"mode,omitempty"`        // cluster.mode: full, or dynsec (every node serves; only dynamic security replicated)
	Lease   int64     `json:"lease"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Followers is a replicating leader's report on each follower it
	// knows (one that acknowledged, is in sync or streams), by name.
	Followers []FollowerStatus `json:"followers,omitempty"`
}

// FollowerStatus is what a leader reports about one follower's
// replication stream in its NodeStatus.
type FollowerStatus struct {
	Name       string  `json:"name"`
	Acked      uint64  `json:"acked"`       // the last index it acknowledged as durable
	Lag        uint64  `json:"lag"`         // entries durable on the leader it has not acknowledged
	LagSeconds float64 `json:"lag_seconds"` // age of the oldest of them; 0: caught up
	InSync     bool    `json:"in_sync"`     // in the leader's in-sync set
	Connected  bool    `json:"connected"`   // it has an open replication stream
}

// Request is an operator's switchover or failover request.
type Request struct {
	Kind  string    `json:"kind"`         // "switchover" or "failover"
	To    string    `json:"to,omitempty"` // target node; empty: any in-sync follower
	From  string    `json:"from"`         // the leader the request is addressed to
	Force bool      `json:"force,omitempty"`
	At    time.Time `json:"at"`
}

// Handover is written by a leader stepping down for a named successor;
// other nodes leave the successor the first try.
type Handover struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Epoch  int64     `json:"epoch"`  // the epoch that ended
	Reason string    `json:"reason"` // switchover, failover, pin, shutdown
	At     time.Time `json:"at"`
}

// HistoryEntry records one leadership change.
type HistoryEntry struct {
	Epoch  int64     `json:"epoch"`
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"` // when the entry was written: after the node began to serve
	// ElectedAt is when the node held the leader key, before it began to
	// serve: where its leadership starts (zero in entries of older
	// versions).
	ElectedAt time.Time `json:"elected_at,omitzero"`
}

// InSync is the replication in-sync set: the followers that hold every
// acknowledged entry. With the leader of Epoch, they are the only nodes
// that may campaign automatically.
type InSync struct {
	Epoch   int64    `json:"epoch"`
	Leader  string   `json:"leader"`
	Members []string `json:"members"`
	// Applied is, when the record was written, the index the leader had
	// durable and each member had acknowledged: a node whose applied index
	// is below its own entry here has lost acknowledged entries (a wiped or
	// restored data directory) and is not complete (Holds), whatever the
	// member list says. Absent in records of older versions.
	Applied map[string]uint64 `json:"applied,omitempty"`
}

// Holds reports whether node, at applied, holds every acknowledged entry
// by this record: it is complete (the leader or a member) and has not lost
// entries it held when the record was written.
func (s *InSync) Holds(node string, applied uint64) bool {
	return s.Complete(node) && (s == nil || applied >= s.Applied[node])
}

// Complete reports whether node holds every acknowledged entry by this
// record: the leader that wrote it, or a member (see Holds for a node's
// applied index).
func (s *InSync) Complete(node string) bool {
	if s == nil {
		return true // no replication: every node has all it can have
	}
	if node == s.Leader {
		return true
	}
	for _, m := range s.Members {
		if m == node {
			return true
		}
	}
	return false
}
