package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/internal/pki"
)

// maxDays bounds --days: a hundred years, far below time.Duration's limit.
const maxDays = 36500

// certs runs "certs init": it makes the replication CA of the cluster (or
// signs with the one already in --dir) and a certificate and key for each
// --node. It works offline: it never connects to etcd.
func (a *app) certs(_ context.Context, cl *cmdLine) error {
	switch {
	case len(cl.args) == 0:
		return usagef("certs: missing subcommand: certs init")
	case cl.args[0] != "init":
		return usagef("certs: unknown subcommand %q: the only one is init", cl.args[0])
	case len(cl.args) > 1:
		return usagef("certs init takes no arguments, got %q", cl.args[1:])
	}
	o, err := a.initOptions(cl)
	if err != nil {
		return err
	}
	written, err := pki.Init(o)
	for _, path := range written {
		fmt.Fprintf(a.stdout, "wrote %s\n", path)
	}
	switch {
	case errors.Is(err, pki.ErrInvalidOptions):
		return usagef("certs init: %v", err)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("certs init: %w (--force replaces that node's certificate and key)", err)
	case err != nil:
		return fmt.Errorf("certs init: %w", err)
	}
	a.certsNextSteps(o, written)
	return nil
}

// initOptions turns the command line into what pki.Init makes.
func (a *app) initOptions(cl *cmdLine) (pki.InitOptions, error) {
	o := pki.InitOptions{Dir: cl.flags["dir"], Force: cl.bool("force")}
	if o.Dir == "" {
		return o, usagef("certs init: missing --dir DIR: where to write the certificates")
	}
	if len(cl.lists["node"]) == 0 {
		return o, usagef("certs init: missing --node NAME=HOST[,HOST...]: give one per node")
	}
	for _, v := range cl.lists["node"] {
		n, err := parseNodeSpec(v)
		if err != nil {
			return o, err
		}
		o.Nodes = append(o.Nodes, n)
	}
	if v, ok := cl.flags["days"]; ok {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 || days > maxDays {
			return o, usagef("--days %q: want a whole number of days from 1 to %d", v, maxDays)
		}
		o.NodeValidity = time.Duration(days) * 24 * time.Hour
	}
	cluster, err := a.offlineCluster(cl)
	if err != nil {
		return o, err
	}
	o.Cluster = cluster
	return o, nil
}

// parseNodeSpec parses a --node value: NAME=HOST[,HOST...].
func parseNodeSpec(v string) (pki.NodeSpec, error) {
	name, hosts, ok := strings.Cut(v, "=")
	if !ok {
		return pki.NodeSpec{}, usagef("--node %q: no '=': want NAME=HOST[,HOST...], e.g. n1=10.0.0.1,triad-1.example.com", v)
	}
	if _, err := validNode(name); err != nil {
		return pki.NodeSpec{}, usagef("--node %q: %v", v, err)
	}
	if strings.TrimSpace(hosts) == "" {
		return pki.NodeSpec{}, usagef("--node %q: no host after '=': give the IP addresses and DNS names its peers dial", v)
	}
	n := pki.NodeSpec{Name: name}
	for h := range strings.SplitSeq(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return pki.NodeSpec{}, usagef("--node %q: an empty host in the comma-separated list", v)
		}
		n.Hosts = append(n.Hosts, h)
	}
	return n, nil
}

// offlineCluster resolves the cluster name as open does — --cluster, else
// cluster.name of --config, else $TRIAD_CLUSTER — but connects to nothing.
// Unlike open it reads --config only when --cluster is absent: a node's
// config may already name the certificates this command is about to make,
// and then it does not load.
func (a *app) offlineCluster(cl *cmdLine) (string, error) {
	cluster, from := cl.flags["cluster"], "--cluster"
	if path, ok := cl.flags["config"]; ok && cluster == "" {
		cfg, err := config.Load(path)
		if err != nil {
			return "", fmt.Errorf("--config: %w (if it names certificates not made yet, give --cluster NAME instead)", err)
		}
		if cfg.Cluster == nil {
			return "", fmt.Errorf("--config %s: no cluster section: that node is standalone", path)
		}
		cluster, from = cfg.Cluster.Name, "cluster.name in "+path
	}
	if cluster == "" {
		cluster, from = a.getenv("TRIAD_CLUSTER"), "TRIAD_CLUSTER"
	}
	switch {
	case cluster == "":
		return "", usagef("no cluster given: use --cluster NAME, --config FILE or set TRIAD_CLUSTER")
	case !nameRE.MatchString(cluster):
		return "", usagef("%s: %q is not a cluster name: 1 to 63 characters from A-Z a-z 0-9 . _ -", from, cluster)
	}
	return cluster, nil
}

// certsNextSteps tells where the files go and which config keys name them.
func (a *app) certsNextSteps(o pki.InitOptions, written []string) {
	ca, caKey := filepath.Join(o.Dir, pki.CAFile), filepath.Join(o.Dir, pki.CAKeyFile)
	if !slices.Contains(written, ca) {
		fmt.Fprintf(a.stdout, "signed with the existing CA %s of cluster %s\n", ca, o.Cluster)
	}
	const etc = "/etc/triad/certs/"
	fmt.Fprintf(a.stdout, "\nNext, copy to each node (e.g. into %s; the key owned by the triad user, mode 0600):\n", etc)
	for _, n := range o.Nodes {
		fmt.Fprintf(a.stdout, "  %s: %s %s %s\n", n.Name, ca,
			filepath.Join(o.Dir, pki.CertFile(n.Name)), filepath.Join(o.Dir, pki.KeyFile(n.Name)))
	}
	fmt.Fprintf(a.stdout, "and set in its config file (NODE: its node.name):\n")
	fmt.Fprintf(a.stdout, "  cluster.replication.tls.ca:   %s%s\n", etc, pki.CAFile)
	fmt.Fprintf(a.stdout, "  cluster.replication.tls.cert: %s%s\n", etc, pki.CertFile("NODE"))
	fmt.Fprintf(a.stdout, "  cluster.replication.tls.key:  %s%s\n", etc, pki.KeyFile("NODE"))
	fmt.Fprintf(a.stdout, "Keep %s offline, on no node: only adding nodes needs it (certs init with it beside ca.pem in --dir).\n", caKey)
}
