package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

// switchover asks the leader to hand over to NODE (or to any in-sync
// follower) and waits until another node leads. The leader acts on the
// request and deletes it; triadctl only checks, writes and waits.
func (a *app) switchover(ctx context.Context, cl *cmdLine) error {
	if err := cl.noArgs(); err != nil {
		return err
	}
	to, err := toFlag(cl)
	if err != nil {
		return err
	}
	s, err := a.open(cl)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	v, err := s.view(ctx)
	if err != nil {
		return err
	}
	if v.Leader == nil {
		return fmt.Errorf("no node leads cluster %s: a switchover needs a leader to hand over "+
			"('triadctl failover --to NODE --force' promotes a node when none leads)", s.cluster)
	}
	leader := *v.Leader
	if err := switchoverTarget(s, v, to); err != nil {
		return err
	}
	if v.Pin != nil && *v.Pin != to {
		fmt.Fprintf(a.stderr, "note: %s is pinned: leadership moves to it again once it is healthy and in sync ('triadctl unpin' keeps the new leader)\n", *v.Pin)
	}
	req := election.Request{Kind: "switchover", To: to, From: leader, At: time.Now().UTC()}
	return a.request(ctx, s, v, req, func(now *election.View) (bool, error) {
		switch {
		case now.Leader == nil || *now.Leader == leader:
			return false, nil
		case to != "" && *now.Leader != to:
			return false, fmt.Errorf("leadership went to %s (epoch %d), not %s", *now.Leader, now.Epoch, to)
		}
		return true, nil
	})
}

// switchoverTarget checks that to (if given) can take over now.
func switchoverTarget(s *session, v *election.View, to string) error {
	if to == "" {
		var states []string
		for _, n := range v.Nodes {
			if n.IsLeader {
				continue
			}
			if n.Healthy && n.InSync {
				return nil
			}
			states = append(states, fmt.Sprintf("%s healthy=%v in_sync=%v", n.Name, n.Healthy, n.InSync))
		}
		if len(states) == 0 {
			return fmt.Errorf("no follower is running in cluster %s: nobody can take over from %s", s.cluster, *v.Leader)
		}
		return fmt.Errorf("no follower is ready for a switchover (healthy and in sync): %s", strings.Join(states, "; "))
	}
	n, ok := v.Node(to)
	switch {
	case !ok:
		return s.unknownNode(v, to, "")
	case n.IsLeader:
		return fmt.Errorf("%s already leads (epoch %d): nothing to switch over", to, v.Epoch)
	case !n.Healthy || !n.InSync:
		return fmt.Errorf("%s is not ready for a switchover: healthy=%v in_sync=%v%s; wait until it is healthy and in sync "+
			"('triadctl failover --to %s --force' promotes it now and loses what it lacks)", to, n.Healthy, n.InSync, lagText(n), to)
	}
	return nil
}

// failover asks for NODE to be promoted whatever its state, and waits until
// it leads. Without --force it only explains why it is dangerous.
func (a *app) failover(ctx context.Context, cl *cmdLine) error {
	if err := cl.noArgs(); err != nil {
		return err
	}
	if !cl.bool("force") {
		return usagef("failover needs --force: it promotes NODE even if NODE lacks acknowledged data " +
			"(messages, sessions, subscriptions, retained messages), which is then LOST; " +
			"'triadctl switchover --to NODE' is the safe command: it hands over only to a node that is in sync")
	}
	to, err := toFlag(cl)
	if err != nil {
		return err
	}
	if to == "" {
		return usagef("failover needs --to NODE: the node to promote")
	}
	s, err := a.open(cl)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	v, err := s.view(ctx)
	if err != nil {
		return err
	}
	n, ok := v.Node(to)
	switch {
	case !ok:
		return s.unknownNode(v, to, "")
	case n.IsLeader:
		return fmt.Errorf("%s already leads (epoch %d): nothing to fail over", to, v.Epoch)
	}
	fmt.Fprintln(a.stderr, lossWarning(v, n))
	from := ""
	if v.Leader != nil {
		from = *v.Leader
	}
	req := election.Request{Kind: "failover", To: to, From: from, Force: true, At: time.Now().UTC()}
	return a.request(ctx, s, v, req, func(now *election.View) (bool, error) {
		return now.Leader != nil && *now.Leader == to, nil
	})
}

// lossWarning tells how much n lags, so the operator knows what a forced
// promotion loses.
func lossWarning(v *election.View, n *election.NodeView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WARNING: failover --force makes %s leader whatever its state: acknowledged data it lacks is LOST.\n", n.Name)
	ref, refName := uint64(0), ""
	if l, ok := v.LeaderNode(); ok {
		ref, refName = l.Applied, l.Name+" (the leader)"
	} else {
		for _, o := range v.Nodes {
			if o.Name != n.Name && o.Applied >= ref {
				ref, refName = o.Applied, o.Name
			}
		}
	}
	switch {
	case refName == "":
		fmt.Fprintf(&b, "WARNING: how far %s lags is unknown: no other node has published its status.\n", n.Name)
	case ref > n.Applied:
		fmt.Fprintf(&b, "WARNING: %s lags %s by %d entries (applied %d of %d): those are LOST.\n",
			n.Name, refName, ref-n.Applied, n.Applied, ref)
	default:
		fmt.Fprintf(&b, "WARNING: %s reports no lag behind %s (applied %d).\n", n.Name, refName, n.Applied)
	}
	fmt.Fprintf(&b, "WARNING: %s is healthy=%v in_sync=%v. The safe command is 'triadctl switchover --to %s' once it is in sync.",
		n.Name, n.Healthy, n.InSync, n.Name)
	return b.String()
}

func lagText(n *election.NodeView) string {
	if n.Lag == nil {
		return ""
	}
	return fmt.Sprintf(" lag=%d", *n.Lag)
}

func toFlag(cl *cmdLine) (string, error) {
	v, ok := cl.flags["to"]
	if !ok {
		return "", nil
	}
	return validNode(v)
}

// request writes req to the switchover key, guarded by the epoch read in
// v, and waits until done says the cluster reached the wanted state, or
// returns its error. On timeout or interrupt it withdraws the request if no
// node has taken it, and says what it saw.
func (a *app) request(ctx context.Context, s *session, v *election.View, req election.Request,
	done func(*election.View) (bool, error)) error {
	if p := v.Switchover; p != nil && !req.Force && p.From == req.From {
		return fmt.Errorf("a request is already pending: %s; the leader removes it when it acts on it or rejects it", requestText(p))
	}
	val, err := json.Marshal(req)
	if err != nil {
		return err
	}
	key := s.keys.Switchover()
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.keys.Leader()), "=", v.Epoch)}
	if v.Switchover == nil {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
	}
	resp, err := s.c.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(val))).Commit()
	if err != nil {
		// It may have been written all the same.
		return fmt.Errorf("%s: %w; %s", req.Kind, s.fail(ctx, err), s.withdraw(ctx, string(val)))
	}
	if !resp.Succeeded {
		return fmt.Errorf("not requested: the leader changed, or another request arrived, since it was read (revision %d); check 'triadctl status' and try again", v.Revision)
	}
	fmt.Fprintf(a.stdout, "requested %s %s -> %s; waiting up to %v for the new leader\n", req.Kind, orNone(req.From), orAny(req.To), s.timeout)

	last, err := awaitView(ctx, s, done)
	if err == nil {
		fmt.Fprintf(a.stdout, "%s: %s -> %s (epoch %d)\n", req.Kind, orNone(req.From), *last.Leader, last.Epoch)
		return nil
	}
	msg := req.Kind + ": " + err.Error()
	if saw := sawText(last, req, v.Epoch); saw != "" {
		msg += "; " + saw
	}
	return fmt.Errorf("%s; %s", msg, s.withdraw(ctx, string(val)))
}

// awaitView watches the cluster until done reports true or an error, or
// ctx ends. It returns the last view seen.
func awaitView(ctx context.Context, s *session, done func(*election.View) (bool, error)) (*election.View, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var last *election.View
	var ok bool
	var derr error
	check := func(v *election.View) {
		last = v
		if ok, derr = done(v); ok || derr != nil {
			cancel()
		}
	}
	for {
		werr := election.WatchView(wctx, s.c, s.keys, check)
		switch {
		case ok:
			return last, nil
		case derr != nil:
			return last, derr
		case ctx.Err() != nil:
			what := "interrupted"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				what = fmt.Sprintf("timed out after %v", s.timeout)
			}
			if last == nil {
				return nil, fmt.Errorf("%s; reading etcd: %w", what, werr)
			}
			return last, errors.New(what)
		}
		// The watch broke (etcd lost its leader, or the connection): the
		// state is read again by the next WatchView.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sawText describes what the wait last saw, unless another node leads
// (done has said so already).
func sawText(last *election.View, req election.Request, epoch int64) string {
	var who string
	switch {
	case last == nil:
		return "etcd could not be read"
	case last.Leader == nil:
		who = "no node leads"
	case last.Epoch == epoch:
		who = fmt.Sprintf("%s still leads (epoch %d)", *last.Leader, last.Epoch)
	default:
		return ""
	}
	p, h := last.Switchover, last.Handover
	switch {
	case p != nil && p.Kind == req.Kind && p.To == req.To && p.From == req.From && p.At.Equal(req.At):
		return who + "; the request is still pending: no node acted on it"
	case h != nil && h.Epoch == epoch && epoch != 0:
		return fmt.Sprintf("%s; %s handed over to %s, but %s has not taken the leader key", who, h.From, h.To, h.To)
	case req.From != "":
		return who + "; the request was removed without a leadership change: " + req.From + " probably rejected it (see its log)"
	}
	return who + "; the request was removed without " + req.To + " taking over (see its log)"
}

func orNone(leader string) string {
	if leader == "" {
		return "(no leader)"
	}
	return leader
}

func orAny(to string) string {
	if to == "" {
		return "any in-sync follower"
	}
	return to
}

// withdraw deletes the request val unless a node has taken it (changed or
// deleted it) meanwhile, so a request that timed out does not act later by
// surprise. The value identifies the request: it holds its time in
// nanoseconds.
func (s *session) withdraw(ctx context.Context, val string) string {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.timeout, 5*time.Second))
	defer cancel()
	key := s.keys.Switchover()
	resp, err := s.c.Txn(wctx).
		If(clientv3.Compare(clientv3.Value(key), "=", val)).
		Then(clientv3.OpDelete(key)).
		Commit()
	switch {
	case err != nil:
		return fmt.Sprintf("could not withdraw the request, it may still be acted on: %v", s.fail(wctx, err))
	case resp.Succeeded:
		return "the request was withdrawn"
	}
	return "the request is not pending (a node took it, or it was never written)"
}
