package sync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/triadmq/triad/internal/pki"
	"github.com/triadmq/triad/sync/pb"
)

// TLSFiles names the PEM files of a node's replication mTLS. They are read
// at every handshake, so renewed certificates take effect without a
// restart.
type TLSFiles struct {
	CA, Cert, Key string
}

// ErrPeerIdentity is what a handshake or stream fails with when the peer's
// certificate names another cluster or node.
var ErrPeerIdentity = errors.New("replication peer identity")

// load reads the node's key pair and the CA pool.
func (f TLSFiles) load() (tls.Certificate, *x509.CertPool, error) {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("load replication certificate %q and key %q: %w", f.Cert, f.Key, err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("read replication ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("replication ca %q holds no PEM certificate", f.CA)
	}
	return pair, pool, nil
}

// ServerCredentials are the leader's: it presents its certificate, requires
// one from every follower signed by the CA, refuses one that names another
// cluster, and logs why it refused a peer.
func ServerCredentials(f TLSFiles, cluster string, log *slog.Logger) credentials.TransportCredentials {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pair, pool, err := f.load()
		if err != nil {
			log.Error("replication: cannot load this node's certificates; refusing followers", "error", err)
			return nil, err
		}
		return &tls.Config{
			MinVersion:       tls.VersionTLS13,
			Certificates:     []tls.Certificate{pair},
			ClientCAs:        pool,
			ClientAuth:       tls.RequireAndVerifyClientCert,
			NextProtos:       []string{"h2"}, // gRPC requires ALPN
			VerifyConnection: checkPeer(cluster, ""),
		}, nil
	}}
	return loggedCreds{credentials.NewTLS(cfg), log}
}

// ClientCredentials are a follower's for one connection to leader: the
// leader's certificate must be signed by the CA, be valid for the address
// dialled, and, if it carries a Triad identity, name leader in cluster.
func ClientCredentials(f TLSFiles, cluster, leader string) (credentials.TransportCredentials, error) {
	pair, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{pair},
		RootCAs:          pool,
		VerifyConnection: checkPeer(cluster, leader),
	}), nil
}

// checkPeer refuses a verified peer certificate whose Triad identity names
// another cluster or (node != "") another node. A certificate without one
// (an operator's own PKI) is accepted on the CA alone.
func checkPeer(cluster, node string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil // the handshake's own rules apply
		}
		c, n, ok := pki.Identity(cs.PeerCertificates[0])
		switch {
		case !ok:
			return nil
		case c != cluster:
			return fmt.Errorf("%w: certificate of node %q is of cluster %q, not %q", ErrPeerIdentity, n, c, cluster)
		case node != "" && n != node:
			return fmt.Errorf("%w: certificate is of node %q, but %q leads cluster %q", ErrPeerIdentity, n, node, cluster)
		}
		return nil
	}
}

// loggedCreds logs every refused handshake with its reason: a peer
// without a certificate, with one of another CA or cluster, or not
// speaking TLS.
type loggedCreds struct {
	credentials.TransportCredentials
	log *slog.Logger
}

func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	remote := conn.RemoteAddr().String()
	nc, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.log.Warn("replication peer refused", "remote", remote, "reason", err)
	}
	return nc, info, err
}

func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{c.TransportCredentials.Clone(), c.log}
}

// IdentityInterceptor refuses a stream whose hello names another node than
// the follower's certificate does, so one node's key cannot pose as
// another (whose acknowledgements would then count for the in-sync set).
func IdentityInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		node, ok := certNode(ss.Context())
		if !ok {
			return handler(srv, ss)
		}
		return handler(srv, &helloCheck{ServerStream: ss, node: node, log: log})
	}
}

// certNode is the node named by the Triad identity of the stream's peer
// certificate, if it has one.
func certNode(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return "", false
	}
	_, node, ok := pki.Identity(ti.State.PeerCertificates[0])
	return node, ok
}

// helloCheck compares the first message's hello with the certificate.
type helloCheck struct {
	grpc.ServerStream
	node    string
	log     *slog.Logger
	checked bool
}

func (h *helloCheck) RecvMsg(m any) error {
	if err := h.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if h.checked {
		return nil
	}
	h.checked = true
	if fm, ok := m.(*pb.FollowerMessage); ok {
		if hello := fm.GetHello(); hello != nil && hello.Node != h.node {
			h.log.Warn("replication peer refused", "reason", "hello names another node than its certificate",
				"hello_node", hello.Node, "certificate_node", h.node)
			return status.Errorf(codes.PermissionDenied, "%v: hello from node %q with the certificate of node %q", ErrPeerIdentity, hello.Node, h.node)
		}
	}
	return nil
}
