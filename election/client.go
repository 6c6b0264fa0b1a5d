package election

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/triadmq/triad/config"
)

// ClientOptions say how to reach etcd.
type ClientOptions struct {
	Endpoints   []string
	DialTimeout time.Duration
	TLS         *config.EtcdTLS // nil: plain or system-trusted https
}

// OptionsFromConfig returns how a node configured with c reaches etcd: its
// endpoints, plus its embedded member's client URL.
func OptionsFromConfig(c *config.Cluster) ClientOptions {
	eps := append([]string(nil), c.Etcd.Endpoints...)
	if e := c.Etcd.Embedded; e != nil {
		eps = append([]string{e.ClientURL}, eps...)
	}
	return ClientOptions{Endpoints: eps, DialTimeout: c.Etcd.DialTimeout.D(), TLS: c.Etcd.TLS}
}

// NewClient connects to etcd. It does not wait for etcd to answer.
func NewClient(o ClientOptions) (*clientv3.Client, error) {
	if len(o.Endpoints) == 0 {
		return nil, fmt.Errorf("etcd: no endpoints")
	}
	cfg := clientv3.Config{
		Endpoints:            o.Endpoints,
		DialTimeout:          o.DialTimeout,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               zap.NewNop(),
		DialOptions:          []grpc.DialOption{grpc.WithChainUnaryInterceptor(retryLeaderChange)},
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = config.DefaultEtcdDialTimeout
	}
	if o.TLS != nil {
		tc, err := tlsConfig(o.TLS)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", o.Endpoints, err)
	}
	return c, nil
}

func tlsConfig(t *config.EtcdTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd tls: load %s and %s: %w", t.Cert, t.Key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("etcd tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd tls: %s holds no PEM certificate", t.CA)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// retryLeaderChange retries a request that etcd refused because its raft
// leadership was moving (which Triad itself causes, see
// Member.ShedRaftLeadership) or briefly absent. Writes are retried too:
// every write Triad makes is either idempotent or guarded by a compare
// that a duplicate fails harmlessly.
func retryLeaderChange(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	for attempt := 1; ; attempt++ {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil || attempt >= leaderChangeRetries || !leaderChanging(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 25 * time.Millisecond):
		}
	}
}

const leaderChangeRetries = 8

func leaderChanging(err error) bool {
	switch rpctypes.Error(err) {
	case rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrTimeoutDueToLeaderFail:
		return true
	}
	// raft's ErrProposalDropped, which etcd passes on with code Unknown
	// while a leadership transfer is under way.
	return strings.Contains(err.Error(), "raft proposal dropped")
}
