package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/config"
)

// revoke revokes the leases of a node whose process has died (a service
// manager's ExecStopPost), so its leader key and status vanish at once
// instead of after the lease TTL. Run it only once the node's process is
// gone: a live node loses its leadership and status. Without NODE it
// revokes the node whose --config is given (node.name); for a standalone
// node (no cluster section) there is nothing to revoke.
func (a *app) revoke(ctx context.Context, cl *cmdLine) error {
	node, err := a.revokeTarget(cl)
	if err != nil || node == "" {
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
	// lease -> what it holds
	held := map[int64][]string{}
	add := func(lease int64, what string) {
		if lease != 0 && !slices.Contains(held[lease], what) {
			held[lease] = append(held[lease], what)
		}
	}
	if n, ok := v.Node(node); ok {
		add(n.KeyLease, "status")
		add(n.Lease, "status")
	}
	if v.Leader != nil && *v.Leader == node {
		add(v.LeaderLease, fmt.Sprintf("leadership (epoch %d)", v.Epoch))
		add(v.LeaderRecord.Lease, fmt.Sprintf("leadership (epoch %d)", v.Epoch))
	}
	if len(held) == 0 {
		fmt.Fprintf(a.stdout, "nothing to revoke: %s holds no lease in cluster %s (no status, not the leader)\n", node, s.cluster)
		return nil
	}
	leases := make([]int64, 0, len(held))
	for l := range held {
		leases = append(leases, l)
	}
	slices.Sort(leases)
	for _, l := range leases {
		what := strings.Join(held[l], " and ")
		_, err := s.c.Revoke(ctx, clientv3.LeaseID(l))
		switch {
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			fmt.Fprintf(a.stdout, "lease %x of %s (%s) had already expired\n", l, node, what)
		case err != nil:
			return fmt.Errorf("revoke lease %x of %s (%s): %w", l, node, what, s.fail(ctx, err))
		default:
			fmt.Fprintf(a.stdout, "revoked lease %x of %s: removed its %s\n", l, node, what)
		}
	}
	return nil
}

// revokeTarget is NODE, or without it the node.name of --config; "" (and
// a message) for a standalone node's config.
func (a *app) revokeTarget(cl *cmdLine) (string, error) {
	path, ok := cl.flags["config"]
	if len(cl.args) > 0 || !ok {
		return cl.nodeArg()
	}
	cfg, err := config.Load(path)
	if err != nil {
		return "", fmt.Errorf("--config: %w", err)
	}
	if cfg.Cluster == nil {
		fmt.Fprintf(a.stdout, "nothing to revoke: %s is a standalone node's configuration (no cluster section)\n", path)
		return "", nil
	}
	return validNode(cfg.Node.Name)
}
