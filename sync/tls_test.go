package sync

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/triadmq/triad/internal/pki"
	"github.com/triadmq/triad/sync/pb"
)

// helloServer answers every stream's hello with one empty entries message
// and records the hellos it got.
type helloServer struct {
	pb.UnimplementedReplicationServer
	mu     gosync.Mutex
	hellos []string
}

func (h *helloServer) Stream(srv pb.Replication_StreamServer) error {
	m, err := srv.Recv()
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.hellos = append(h.hellos, m.GetHello().GetNode())
	h.mu.Unlock()
	return srv.Send(&pb.LeaderMessage{Epoch: 1, Body: &pb.LeaderMessage_Entries{Entries: &pb.Entries{}}})
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// certDir makes a CA of cluster and certificates for nodes valid for
// 127.0.0.1.
func certDir(t *testing.T, cluster string, nodes ...string) string {
	t.Helper()
	dir := t.TempDir()
	o := pki.InitOptions{Dir: dir, Cluster: cluster}
	for _, n := range nodes {
		o.Nodes = append(o.Nodes, pki.NodeSpec{Name: n, Hosts: []string{"127.0.0.1"}})
	}
	if _, err := pki.Init(o); err != nil {
		t.Fatal(err)
	}
	return dir
}

func files(dir, node string) TLSFiles {
	return TLSFiles{CA: filepath.Join(dir, pki.CAFile), Cert: filepath.Join(dir, pki.CertFile(node)), Key: filepath.Join(dir, pki.KeyFile(node))}
}

// serveTLS runs a helloServer with the leader's credentials of node in dir.
func serveTLS(t *testing.T, f TLSFiles, cluster string) (addr string, h *helloServer, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(ServerCredentials(f, cluster, log)), grpc.StreamInterceptor(IdentityInterceptor(log)))
	h = &helloServer{}
	pb.RegisterReplicationServer(srv, h)
	go func() { _ = srv.Serve(ln) }() // ends with Stop
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), h, logs
}

// hello opens a stream with creds, says hello as node and waits for the
// answer.
func hello(addr string, creds credentials.TransportCredentials, node string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := pb.NewReplicationClient(conn).Stream(ctx)
	if err != nil {
		return err
	}
	if err := st.Send(&pb.FollowerMessage{Body: &pb.FollowerMessage_Hello{Hello: &pb.Hello{Cluster: "prod", Node: node}}}); err != nil {
		return err
	}
	_, err = st.Recv()
	return err
}

func clientCreds(t *testing.T, f TLSFiles, cluster, leader string) credentials.TransportCredentials {
	t.Helper()
	c, err := ClientCredentials(f, cluster, leader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitLog polls the server's log for want.
func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("server log lacks %q:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMutualTLSAcceptsClusterPeer(t *testing.T) {
	dir := certDir(t, "prod", "n1", "n2")
	addr, h, _ := serveTLS(t, files(dir, "n1"), "prod")
	if err := hello(addr, clientCreds(t, files(dir, "n2"), "prod", "n1"), "n2"); err != nil {
		t.Fatalf("a follower of the cluster was refused: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.hellos) != 1 || h.hellos[0] != "n2" {
		t.Fatalf("hellos %v, want [n2]", h.hellos)
	}
}

func TestMutualTLSRefusals(t *testing.T) {
	dir := certDir(t, "prod", "n1", "n2", "n3")
	other := certDir(t, "prod", "n2") // same names, another CA
	addr, h, logs := serveTLS(t, files(dir, "n1"), "prod")

	t.Run("plaintext follower", func(t *testing.T) {
		if err := hello(addr, insecure.NewCredentials(), "n2"); err == nil {
			t.Fatal("a plaintext follower got a stream")
		}
		waitLog(t, logs, "replication peer refused")
	})
	t.Run("certificate of another CA", func(t *testing.T) {
		// The follower trusts the leader's CA but presents another's certificate.
		f := files(other, "n2")
		f.CA = files(dir, "n2").CA
		if err := hello(addr, clientCreds(t, f, "prod", "n1"), "n2"); err == nil {
			t.Fatal("a follower with a certificate of another CA got a stream")
		}
		waitLog(t, logs, "certificate signed by unknown authority")
	})
	t.Run("certificate of another cluster, same CA", func(t *testing.T) {
		f := issueForeign(t, dir, "staging", "n2")
		if err := hello(addr, clientCreds(t, f, "prod", "n1"), "n2"); err == nil {
			t.Fatal("a follower of another cluster got a stream")
		}
		waitLog(t, logs, `is of cluster \"staging\", not \"prod\"`)
	})
	t.Run("hello under another name", func(t *testing.T) {
		err := hello(addr, clientCreds(t, files(dir, "n2"), "prod", "n1"), "n3")
		if err == nil || !strings.Contains(err.Error(), `hello from node "n3" with the certificate of node "n2"`) {
			t.Fatalf("hello as n3 with n2's certificate: %v", err)
		}
		waitLog(t, logs, "hello names another node than its certificate")
	})
	t.Run("leader is not the elected node", func(t *testing.T) {
		// n1 serves, but the election said n3 leads: the follower refuses it.
		err := hello(addr, clientCreds(t, files(dir, "n2"), "prod", "n3"), "n2")
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), `\"`, `"`), `certificate is of node "n1", but "n3" leads`) {
			t.Fatalf("stream from the wrong leader: %v", err)
		}
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.hellos) != 0 {
		t.Fatalf("refused peers reached the service: %v", h.hellos)
	}
}

// issueForeign signs, with the CA in dir, a certificate whose identity
// names node of another cluster (an organisation sharing one CA between
// clusters), and returns its files.
func issueForeign(t *testing.T, dir, cluster, node string) TLSFiles {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.CAFile), filepath.Join(dir, pki.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.CertFile(node)), filepath.Join(dir, pki.KeyFile(node)))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *pair.Leaf
	tmpl.SerialNumber = big.NewInt(42)
	tmpl.URIs = []*url.URL{pki.IdentityURI(cluster, node)}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Leaf, pair.Leaf.PublicKey, ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	f := files(dir, node)
	f.Cert = filepath.Join(t.TempDir(), "foreign.pem")
	if err := os.WriteFile(f.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
