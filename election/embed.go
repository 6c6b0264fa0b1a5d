package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/triadmq/triad/config"
)

// memberStartTimeout bounds how long an embedded member may take to join
// its cluster (the other members may start later: a first boot waits for
// a quorum).
const memberStartTimeout = 5 * time.Minute

// Member is an embedded etcd member.
type Member struct {
	etcd *embed.Etcd
	log  *slog.Logger
}

// StartMember starts this node's etcd member and returns once it has
// joined a cluster with a quorum, or ctx ends.
func StartMember(ctx context.Context, name string, c *config.EmbeddedEtcd, log *slog.Logger) (*Member, error) {
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = c.DataDir
	cfg.TickMs = uint(c.Tick.D() / time.Millisecond)
	cfg.ElectionMs = uint(c.ElectionTimeout.D() / time.Millisecond)
	cfg.LogLevel = "error"
	cfg.ClusterState = c.InitialClusterState
	var parts []string
	for _, m := range c.InitialCluster {
		parts = append(parts, m.Name+"="+m.PeerURL)
	}
	cfg.InitialCluster = strings.Join(parts, ",")
	cu, err := url.Parse(c.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd member: client_url %q: %w", c.ClientURL, err)
	}
	pu, err := url.Parse(c.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("etcd member: peer_url %q: %w", c.PeerURL, err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd member %s: %w", name, err)
	}
	m := &Member{etcd: e, log: log}
	t := time.NewTimer(memberStartTimeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		log.Info("etcd member ready", "name", name, "client", c.ClientURL, "peer", c.PeerURL)
		return m, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd member %s: %w", name, err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcd member %s: %w", name, ctx.Err())
	case <-t.C:
		e.Close()
		return nil, fmt.Errorf("etcd member %s: no quorum within %v (are the other members running?)", name, memberStartTimeout)
	}
}

// Err reports a fatal error of the running member.
func (m *Member) Err() <-chan error { return m.etcd.Err() }

// Close stops the member.
func (m *Member) Close() {
	m.etcd.Close()
	m.log.Info("etcd member stopped")
}

// ShedRaftLeadership moves etcd's raft leadership away from this member if
// it holds it. The Triad leader calls it: when the Triad leader's host dies,
// etcd then need not elect a raft leader first (which also extends every
// lease by an election timeout), so failover takes the lease TTL, not TTL +
// etcd election.
func (m *Member) ShedRaftLeadership(ctx context.Context) error {
	s := m.etcd.Server
	self := s.MemberID()
	if s.Leader() != self {
		return nil
	}
	var errs []error
	for _, peer := range s.Cluster().Members() {
		if peer.ID == self || peer.IsLearner {
			continue
		}
		// A transfer to a dead member blocks until its context ends:
		// only try members that accept connections, each for a bounded time.
		if !reachable(peer.PeerURLs) {
			errs = append(errs, fmt.Errorf("to %s: not reachable", peer.Name))
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, moveLeaderTimeout)
		err := s.MoveLeader(mctx, uint64(self), uint64(peer.ID))
		cancel()
		if err == nil {
			m.log.Info("moved etcd raft leadership away from the Triad leader", "to", peer.Name)
			return nil
		}
		errs = append(errs, fmt.Errorf("to %s: %w", peer.Name, err))
	}
	if len(errs) == 0 {
		return nil // a single-member cluster
	}
	return fmt.Errorf("move etcd raft leadership: %w", errors.Join(errs...))
}

// moveLeaderTimeout bounds one raft leadership transfer attempt.
const moveLeaderTimeout = time.Second

// reachable reports whether one of urls accepts a TCP connection at once.
func reachable(urls []string) bool {
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil {
			continue
		}
		c, err := net.DialTimeout("tcp", pu.Host, 200*time.Millisecond)
		if err == nil {
			_ = c.Close() // a probe: nothing was sent
			return true
		}
	}
	return false
}
