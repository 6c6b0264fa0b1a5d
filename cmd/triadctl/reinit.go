package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/sync/state"
)

// reinit makes a stopped cluster node start from an empty state, so that
// the leader re-seeds it with a snapshot: the repair for a node that
// refuses to start on a damaged state file. It works on the node's data
// directory, so it runs on the node's machine with its --config; NODE must
// be that config's node.name (a guard against the wrong machine). The old
// file is kept aside (state.db.corrupt-<time>). It refuses while the node
// runs. etcd, when it answers, only tells who will send the snapshot.
func (a *app) reinit(ctx context.Context, cl *cmdLine) error {
	node, err := cl.nodeArg()
	if err != nil {
		return err
	}
	path, ok := cl.flags["config"]
	if !ok {
		return usagef("reinit works on %s's data directory: run it on %s's machine with --config and its triad.yaml", node, node)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if cfg.Cluster == nil {
		return fmt.Errorf("--config %s: a standalone node has no leader to be re-seeded from: restore its data_dir from a backup instead", path)
	}
	if cfg.Node.Name != node {
		return fmt.Errorf("--config %s is node %s's, not %s's: run reinit on %s's machine with its own config", path, cfg.Node.Name, node, node)
	}
	moved, err := state.Quarantine(cfg.Node.DataDir, time.Now())
	if errors.Is(err, state.ErrInUse) {
		return fmt.Errorf("%w: stop %s first (systemctl stop triad)", err, node)
	}
	if err != nil {
		return err
	}
	if moved == "" {
		fmt.Fprintf(a.stdout, "%s has no state file in %s: it starts empty and the leader seeds it\n", node, cfg.Node.DataDir)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s's state file moved aside to %s\n", node, moved)
	fmt.Fprintf(a.stdout, "start %s (systemctl start triad): it starts empty, is not eligible to lead, and %s\n", node, a.seeder(ctx, cl))
	return nil
}

// seeder says which node will send the snapshot, as far as etcd tells.
func (a *app) seeder(ctx context.Context, cl *cmdLine) string {
	const unknown = "the leader sends it a snapshot"
	s, err := a.open(cl)
	if err != nil {
		return unknown
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(ctx, min(s.timeout, 3*time.Second))
	defer cancel()
	v, err := s.view(ctx)
	if err != nil || v.Leader == nil {
		return unknown + " (no leader known to etcd right now)"
	}
	return fmt.Sprintf("the leader, %s, sends it a snapshot", *v.Leader)
}
