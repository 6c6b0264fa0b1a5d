// Package sync is the replication log: the wire format (pb/), the
// leader's stream to followers (leader.go, log.go), the follower's apply
// loop (follower.go) and the mapping between wire and state (convert.go).
// Its subpackage state is the durable state every node keeps. See
// README.md for the entry types, the ordering and epoch rules and the ack
// rule.
package sync
