package sync

import (
	"errors"
	"fmt"
)

// Replication protocol versions, exchanged in the handshake: the
// follower's Hello and the leader's first LeaderMessage carry the version
// the node speaks and the oldest version of a peer it still understands.
//
// Version 1 is the unversioned protocol shipped before the handshake
// carried a version: a peer that sends no version (proto3 zero) is a
// version 1 peer and supports version 1 only. Version 2 adds the version
// fields and nothing else.
//
// Bump ProtocolVersion for any change of the wire format or of its
// meaning that an older peer would misread. Raise MinProtocolVersion only
// when a release drops support for an old version. A node replicates with
// a peer when the older of their two versions lies in both their ranges
// [MinProtocolVersion, ProtocolVersion], and the two then speak that older
// version: a node must keep understanding every version its range covers,
// so that a node one version newer follows an older leader and leads
// older followers, and a cluster upgrades one node at a time.
const (
	ProtocolVersion    = 2
	MinProtocolVersion = 1
)

// ErrProtocolVersion ends a follower's stream from a leader whose
// replication protocol the follower does not support.
var ErrProtocolVersion = errors.New("replication: incompatible protocol version")

// ProtocolRange is the replication protocol of a node: the version it
// speaks and the oldest version of a peer it understands. A zero field
// means this release's constant (ProtocolVersion, MinProtocolVersion);
// tests set other values to run two versions side by side.
type ProtocolRange struct {
	Version uint32
	Min     uint32
}

// String is the supported range, "min..version".
func (p ProtocolRange) String() string { return fmt.Sprintf("%d..%d", p.Min, p.Version) }

// resolved fills zero fields with this release's constants; Min never
// exceeds Version.
func (p ProtocolRange) resolved() ProtocolRange {
	if p.Version == 0 {
		p.Version = ProtocolVersion
	}
	if p.Min == 0 {
		p.Min = MinProtocolVersion
	}
	return ProtocolRange{Version: p.Version, Min: min(p.Min, p.Version)}
}

// peerProtocol is the range a peer announced in its handshake. No version
// is version 1, the unversioned protocol; a version without a minimum
// supports itself only.
func peerProtocol(version, minVersion uint32) ProtocolRange {
	if version == 0 {
		return ProtocolRange{Version: 1, Min: 1}
	}
	if minVersion == 0 || minVersion > version {
		minVersion = version
	}
	return ProtocolRange{Version: version, Min: minVersion}
}

// agreedProtocol returns the version a leader and a follower speak to
// each other, the older of their two; ok is false when it lies outside
// either one's range (one of them is too old for the other).
func agreedProtocol(leader, follower ProtocolRange) (version uint32, ok bool) {
	v := min(leader.Version, follower.Version)
	return v, v >= leader.Min && v >= follower.Min
}

// followerRefusal is what a leader tells a follower whose protocol it
// cannot speak with, and what to do about it.
func followerRefusal(node string, leader, follower ProtocolRange) (msg, fix string) {
	if follower.Version < leader.Min {
		fix = "upgrade " + node
	} else {
		fix = fmt.Sprintf("%s is too new for this leader: run on it a release that still supports protocol %d (upgrade one release at a time)",
			node, leader.Version)
	}
	return fmt.Sprintf("follower %s speaks replication protocol %d (supports %s); this leader speaks %d and supports %s: %s",
		node, follower.Version, follower, leader.Version, leader, fix), fix
}

// leaderRefusal is why a follower refuses a leader whose protocol it
// cannot speak with, and what to do about it.
func leaderRefusal(node string, leader, follower ProtocolRange) (msg, fix string) {
	if leader.Version < follower.Min {
		fix = fmt.Sprintf("this follower is too new for the leader: run on %s a release that still supports protocol %d (upgrade one release at a time)",
			node, leader.Version)
	} else {
		fix = "upgrade " + node
	}
	return fmt.Sprintf("leader speaks replication protocol %d (supports %s); this follower %s speaks %d and supports %s: %s",
		leader.Version, leader, node, follower.Version, follower, fix), fix
}
