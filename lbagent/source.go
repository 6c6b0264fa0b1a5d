package lbagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

// observation is one reading of the leader key, handed from watchLeader to
// the main loop.
type observation struct {
	rev     int64  // the etcd revision it reflects (0 with err)
	read    bool   // from a (linearizable) read, not a watch event
	leader  string // the leading node; "": no leader key, or an undecodable one
	epoch   int64  // the leader key's create revision
	problem string // why a present leader key was not taken
	err     error  // etcd did not answer
}

// watchLeader reports the leader key to out until ctx is cancelled: a read
// at start, every change through a watch, and a read every
// reconcile_interval besides. The reads are what notice an etcd outage (a
// watch on an unreachable etcd just waits) and they heal a watch that
// missed something; the main loop drops watch events older than a read.
func (a *Agent) watchLeader(ctx context.Context, out chan<- observation) {
	const minBackoff = 100 * time.Millisecond
	backoff := minBackoff
	for ctx.Err() == nil {
		rev, err := a.readLeader(ctx, out)
		if err == nil {
			backoff = minBackoff
			err = a.followLeader(ctx, rev, out)
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Debug("etcd watch of the leader key ended; reading again", "backoff", backoff, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, a.cfg.ReconcileInterval.D())
	}
}

// readAttempt bounds one read of the leader key. A member that is frozen
// (SIGSTOP, a stalled host) keeps its connection open and never answers;
// the etcd client sends each request to the next member, so a short attempt
// and a retry reach a live one instead of waiting out etcd.dial_timeout.
const readAttempt = 500 * time.Millisecond

// readLeader reads the leader key, in attempts of readAttempt each (one per
// endpoint) bounded by etcd.dial_timeout in all, and sends what it found
// (or the error). It returns the revision read at.
func (a *Agent) readLeader(ctx context.Context, out chan<- observation) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, a.cfg.Etcd.DialTimeout.D())
	defer cancel()
	var (
		resp *clientv3.GetResponse
		err  error
	)
	for range max(1, len(a.cfg.Etcd.Endpoints)) {
		actx, acancel := context.WithTimeout(rctx, readAttempt)
		resp, err = a.etcd.Get(actx, a.keys.Leader())
		acancel()
		if err == nil || rctx.Err() != nil {
			break
		}
	}
	if err != nil {
		err = fmt.Errorf("read %s from etcd %v: %w", a.keys.Leader(), a.cfg.Etcd.Endpoints, err)
		send(ctx, out, observation{err: err})
		return 0, err
	}
	o := observation{rev: resp.Header.Revision}
	if len(resp.Kvs) > 0 {
		o = leaderOf(resp.Kvs[0], resp.Header.Revision)
	}
	o.read = true
	send(ctx, out, o)
	return resp.Header.Revision, nil
}

// followLeader watches the leader key from rev+1 and reads it again every
// reconcile_interval. It returns when the watch fails or ctx ends.
func (a *Agent) followLeader(ctx context.Context, rev int64, out chan<- observation) error {
	// WithRequireLeader: a member cut off from its raft leader cancels the
	// watch rather than serve a picture that may be stale.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := a.etcd.Watch(wctx, a.keys.Leader(), clientv3.WithRev(rev+1))
	tick := time.NewTicker(a.cfg.ReconcileInterval.D())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			// A failed read is reported by readLeader; the watch resumes by
			// itself once etcd is back.
			_, _ = a.readLeader(ctx, out)
		case resp, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := resp.Err(); err != nil {
				return fmt.Errorf("watch %s: %w", a.keys.Leader(), err)
			}
			if n := len(resp.Events); n > 0 {
				send(ctx, out, eventObservation(resp.Events[n-1]))
			}
		}
	}
}

func eventObservation(ev *clientv3.Event) observation {
	if ev.Type == clientv3.EventTypeDelete {
		return observation{rev: ev.Kv.ModRevision}
	}
	return leaderOf(ev.Kv, ev.Kv.ModRevision)
}

// leaderOf decodes a leader key's value (election.Leader) read at rev. An
// undecodable record counts as no leader, as in election.ReadView.
func leaderOf(kv *mvccpb.KeyValue, rev int64) observation {
	var l election.Leader
	if err := json.Unmarshal(kv.Value, &l); err != nil {
		return observation{rev: rev, problem: fmt.Sprintf("%s: undecodable leader record %q: %v", kv.Key, clip(string(kv.Value), 80), err)}
	}
	if l.Node == "" {
		return observation{rev: rev, problem: fmt.Sprintf("%s: leader record without a node: %q", kv.Key, clip(string(kv.Value), 80))}
	}
	return observation{rev: rev, leader: l.Node, epoch: kv.CreateRevision}
}

func send(ctx context.Context, out chan<- observation, o observation) {
	select {
	case out <- o:
	case <-ctx.Done():
	}
}
