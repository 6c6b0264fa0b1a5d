package node

import (
	"math"

	"github.com/triadmq/triad/election"
)

// statusLagSteps: a follower's lag in seconds is rounded to 1/10 s in the
// status record. A finer value would change at every look and make the
// leader rewrite its record in etcd over and over while a follower lags
// (/metrics has the exact figure).
const statusLagSteps = 10

// followerStatus is the leader's report on each follower it knows, for
// its status record and /status; nil while the node does not lead (or
// has no replication).
func (r *replica) followerStatus() []election.FollowerStatus {
	if r == nil {
		return nil
	}
	q := r.leaderQuorum()
	if q == nil {
		return nil
	}
	fl := q.Followers()
	out := make([]election.FollowerStatus, len(fl))
	for i, f := range fl {
		out[i] = election.FollowerStatus{Name: f.Name, Acked: f.Acked, Lag: f.Lag,
			LagSeconds: math.Round(f.LagSeconds*statusLagSteps) / statusLagSteps,
			InSync:     f.InSync, Connected: f.Connected}
	}
	return out
}
