package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/triadmq/triad/internal/pki"
	"github.com/triadmq/triad/sync"
	"github.com/triadmq/triad/sync/pb"
)

// TestClusterReplicationRefusesUncertifiedPeers: the demo cluster
// replicates over mutual TLS with the certificates `triad demo` makes
// (both followers get in sync); an impostor that reaches the leader's
// replication port in plaintext, or with a certificate of another CA for
// the same cluster and node name, gets no state, and the leader logs why.
func TestClusterReplicationRefusesUncertifiedPeers(t *testing.T) {
	c := newCluster(t)
	leader := c.leader()
	before := c.waitInSync(2)
	addr := c.node(leader).ReplAddr

	impostor := t.TempDir()
	if _, err := pki.Init(pki.InitOptions{Dir: impostor, Cluster: clusterName,
		Nodes: []pki.NodeSpec{{Name: "n2", Hosts: []string{"127.0.0.1"}}}}); err != nil {
		t.Fatal(err)
	}
	// It trusts the cluster's CA, so only the leader's check can stop it.
	foreign, err := sync.ClientCredentials(sync.TLSFiles{CA: c.l.CAPath(),
		Cert: filepath.Join(impostor, pki.CertFile("n2")), Key: filepath.Join(impostor, pki.KeyFile("n2"))}, clusterName, leader)
	if err != nil {
		t.Fatal(err)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"plaintext": insecure.NewCredentials(), "certificate of another CA": foreign,
	} {
		n, err := streamAsFollower(addr, creds)
		if err == nil || n > 0 {
			t.Fatalf("%s: the impostor got %d messages from the leader (stream ended: %v)", name, n, err)
		}
		t.Logf("%s: refused: %v", name, err)
	}

	logPath := c.node(leader).LogPath
	waitFor(t, 10*time.Second, "two refusals in the leader's log", func() bool {
		b, err := os.ReadFile(logPath)
		return err == nil && strings.Count(string(b), "replication peer refused") >= 2
	})
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"first record does not look like a TLS handshake", "certificate signed by unknown authority"} {
		if !strings.Contains(string(b), reason) {
			t.Errorf("the leader's log gives no reason %q for a refusal", reason)
		}
	}
	if after := c.waitInSync(2); c.leader() != leader || !slices.Equal(after.Members, before.Members) {
		t.Fatalf("after the impostors: leader %s, in sync %v; want %s, %v", c.leader(), after.Members, leader, before.Members)
	}
}

// streamAsFollower opens a replication stream as follower n2 and reads
// what the leader sends for a moment; it returns how many messages came
// and the error that ended the stream.
func streamAsFollower(addr string, creds credentials.TransportCredentials) (int, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := pb.NewReplicationClient(conn).Stream(ctx)
	if err != nil {
		return 0, err
	}
	if err := st.Send(&pb.FollowerMessage{Body: &pb.FollowerMessage_Hello{Hello: &pb.Hello{Cluster: clusterName, Node: "n2"}}}); err != nil {
		return 0, err
	}
	n := 0
	for {
		if _, err := st.Recv(); err != nil {
			return n, err
		}
		n++
	}
}
