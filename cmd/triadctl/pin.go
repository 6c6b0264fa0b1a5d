package main

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

// pin makes NODE the preferred leader. The leader moves leadership to it
// by switchover once it is healthy and in sync; triadctl only writes the
// pin key.
func (a *app) pin(ctx context.Context, cl *cmdLine) error {
	node, err := cl.nodeArg()
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
	n, live := v.Node(node)
	if !live && !cl.bool("force") {
		return s.unknownNode(v, node, "; pin --force pins a node that is not running now")
	}
	if _, err := s.c.Put(ctx, s.keys.Pin(), node); err != nil {
		return s.fail(ctx, err)
	}
	if v.Pin != nil && *v.Pin != node {
		fmt.Fprintf(a.stdout, "pinned %s (was %s)\n", node, *v.Pin)
	} else {
		fmt.Fprintf(a.stdout, "pinned %s\n", node)
	}
	fmt.Fprintln(a.stdout, pinOutlook(v, node, n))
	return nil
}

// pinOutlook says what the nodes will do about a new pin on node (n: its
// status, nil if it is not running).
func pinOutlook(v *election.View, node string, n *election.NodeView) string {
	var s string
	switch {
	case v.Leader != nil && *v.Leader == node:
		return node + " already leads: no switchover needed"
	case n == nil:
		s = node + " is not running: it takes over by switchover once it runs and is in sync"
	case v.Leader == nil:
		s = "no node leads now: once one does, it hands over to " + node + " when " + node + " is healthy and in sync"
	case n.Healthy && n.InSync:
		s = fmt.Sprintf("a switchover %s -> %s is expected now (%s is healthy and in sync)", *v.Leader, node, node)
	default:
		s = fmt.Sprintf("no switchover yet: %s is not ready (healthy=%v, in_sync=%v); %s hands over once it is",
			node, n.Healthy, n.InSync, *v.Leader)
	}
	if v.Paused {
		s += "\nautomatic leader changes are paused: the switchover waits for 'triadctl resume'"
	}
	return s
}

func (a *app) unpin(ctx context.Context, cl *cmdLine) error {
	if err := cl.noArgs(); err != nil {
		return err
	}
	s, err := a.open(cl)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	resp, err := s.c.Delete(ctx, s.keys.Pin(), clientv3.WithPrevKV())
	if err != nil {
		return s.fail(ctx, err)
	}
	if len(resp.PrevKvs) == 0 {
		fmt.Fprintln(a.stdout, "no pin was set")
		return nil
	}
	fmt.Fprintf(a.stdout, "unpinned %s: leadership stays where it is\n", resp.PrevKvs[0].Value)
	return nil
}
