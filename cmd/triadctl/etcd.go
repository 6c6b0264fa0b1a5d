package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/election"
)

// session is a connection to one cluster's etcd.
type session struct {
	cluster string
	keys    election.Keys
	eps     []string
	timeout time.Duration
	c       *clientv3.Client
}

// open resolves where the cluster is and connects. Each setting comes from
// its flag, else from --config, else from the environment.
func (a *app) open(cl *cmdLine) (*session, error) {
	timeout := defaultTimeout
	if v, ok := cl.flags["timeout"]; ok {
		d, err := parseTimeout(v)
		if err != nil {
			return nil, err
		}
		timeout = d
	}
	var opts election.ClientOptions
	var cluster, clusterFrom string
	if path, ok := cl.flags["config"]; ok {
		cfg, err := config.Load(path)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		if cfg.Cluster == nil {
			return nil, fmt.Errorf("--config %s: no cluster section: that node is standalone", path)
		}
		opts = election.OptionsFromConfig(cfg.Cluster)
		cluster, clusterFrom = cfg.Cluster.Name, "cluster.name in "+path
	}
	switch v, ok := cl.flags["etcd"]; {
	case ok:
		eps, err := parseEndpoints(v, "--etcd")
		if err != nil {
			return nil, err
		}
		opts.Endpoints = eps
	case len(opts.Endpoints) == 0 && a.getenv("TRIAD_ETCD") != "":
		eps, err := parseEndpoints(a.getenv("TRIAD_ETCD"), "TRIAD_ETCD")
		if err != nil {
			return nil, err
		}
		opts.Endpoints = eps
	}
	switch v, ok := cl.flags["cluster"]; {
	case ok:
		cluster, clusterFrom = v, "--cluster"
	case cluster == "":
		cluster, clusterFrom = a.getenv("TRIAD_CLUSTER"), "TRIAD_CLUSTER"
	}
	switch {
	case cluster == "":
		return nil, usagef("no cluster given: use --cluster NAME, --config FILE or set TRIAD_CLUSTER")
	case !nameRE.MatchString(cluster):
		return nil, usagef("%s: %q is not a cluster name: 1 to 63 characters from A-Z a-z 0-9 . _ -", clusterFrom, cluster)
	case len(opts.Endpoints) == 0:
		return nil, usagef("no etcd given: use --etcd URL[,URL], --config FILE or set TRIAD_ETCD")
	}
	if opts.DialTimeout <= 0 || opts.DialTimeout > timeout {
		opts.DialTimeout = timeout
	}
	c, err := election.NewClient(opts)
	if err != nil {
		return nil, err
	}
	return &session{cluster: cluster, keys: election.NewKeys(cluster), eps: opts.Endpoints, timeout: timeout, c: c}, nil
}

// close closes the client. Nothing is pending when a command ends, so an
// error closing it changes nothing and is not reported.
func (s *session) close() { _ = s.c.Close() }

// withTimeout bounds ctx by --timeout.
func (s *session) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// fail explains an etcd error: a deadline means etcd did not answer in time.
func (s *session) fail(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("etcd at %s did not answer within %v (is it running, and are --etcd/--config right?): %w",
			strings.Join(s.eps, ","), s.timeout, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("interrupted: %w", err)
	}
	return fmt.Errorf("etcd at %s: %w", strings.Join(s.eps, ","), err)
}

// view reads the cluster view.
func (s *session) view(ctx context.Context) (*election.View, error) {
	v, err := election.ReadView(ctx, s.c, s.keys)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return v, nil
}

// unknownNode is the error for a node that has no status record.
func (s *session) unknownNode(v *election.View, name, hint string) error {
	live := "no node is running"
	if names := v.NodeNames(); len(names) > 0 {
		live = "live nodes: " + strings.Join(names, ", ")
	}
	return fmt.Errorf("unknown node %q in cluster %s (%s)%s", name, s.cluster, live, hint)
}
