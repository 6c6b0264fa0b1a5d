package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triadmq/triad/internal/pki"
)

// makeCerts runs pki.Init for nodes of cluster in a new directory.
func makeCerts(t *testing.T, cluster string, nodes ...string) string {
	t.Helper()
	dir := t.TempDir()
	o := pki.InitOptions{Dir: dir, Cluster: cluster}
	for _, n := range nodes {
		o.Nodes = append(o.Nodes, pki.NodeSpec{Name: n, Hosts: []string{"10.0.0.1"}})
	}
	if _, err := pki.Init(o); err != nil {
		t.Fatal(err)
	}
	return dir
}

// replTLS is clusterYAML (node n1 of cluster prod) with a replication
// section whose tls mapping (line 25) names ca, cert and key.
func replTLS(ca, cert, key string) string {
	return clusterYAML + fmt.Sprintf("  replication:\n    address: 10.0.0.1:7400\n    tls: {ca: %s, cert: %s, key: %s}\n", ca, cert, key)
}

func TestReplicationTLS(t *testing.T) {
	prod := makeCerts(t, "prod", "n1", "n2")
	other := makeCerts(t, "staging", "n1")
	in := func(dir, name string) string { return filepath.Join(dir, name) }
	ca, cert, key := in(prod, pki.CAFile), in(prod, pki.CertFile("n1")), in(prod, pki.KeyFile("n1"))
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain, plainKey := writeCertPair(t) // no Triad identity, its own CA

	tests := []struct {
		name        string
		doc         string
		line        int
		path, value string // "" path: valid
	}{
		{name: "valid", doc: replTLS(ca, cert, key)},
		{name: "own PKI without identity", doc: replTLS(plain, plain, plainKey)},
		{name: "insecure", doc: replicationYAML},
		{name: "neither tls nor insecure", doc: clusterYAML + "  replication:\n    address: 10.0.0.1:7400\n",
			line: 23, path: "cluster.replication.tls", value: "missing: the replication stream needs mutual TLS"},
		{name: "tls and insecure", doc: replTLS(ca, cert, key) + "    insecure: true\n",
			line: 26, path: "cluster.replication.insecure", value: "true cannot be combined with cluster.replication.tls"},
		{name: "empty tls", doc: clusterYAML + "  replication:\n    address: 10.0.0.1:7400\n    tls: {}\n",
			line: 25, path: "cluster.replication.tls.ca", value: "missing: the path of a PEM file is required"},
		{name: "cert of another node", doc: replTLS(ca, in(prod, pki.CertFile("n2")), in(prod, pki.KeyFile("n2"))),
			line: 25, path: "cluster.replication.tls.cert", value: `is the certificate of node "n2" of cluster "prod"; this is node "n1" of cluster "prod"`},
		{name: "cert of another cluster", doc: replTLS(in(other, pki.CAFile), in(other, pki.CertFile("n1")), in(other, pki.KeyFile("n1"))),
			line: 25, path: "cluster.replication.tls.cert", value: `of cluster "staging"; this is node "n1" of cluster "prod"`},
		{name: "ca that did not sign the cert", doc: replTLS(in(other, pki.CAFile), cert, key),
			line: 25, path: "cluster.replication.tls.cert", value: fmt.Sprintf("%q does not verify against ca %q for server authentication", cert, in(other, pki.CAFile))},
		{name: "key of another cert", doc: replTLS(ca, cert, in(prod, pki.KeyFile("n2"))),
			line: 25, path: "cluster.replication.tls.cert", value: "do not load as a key pair"},
		{name: "ca not PEM", doc: replTLS(notPEM, cert, key),
			line: 25, path: "cluster.replication.tls.ca", value: "holds no PEM certificate"},
		{name: "missing key file", doc: replTLS(ca, cert, in(prod, "nope.pem")),
			line: 25, path: "cluster.replication.tls.key", value: "cannot be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.doc), "triad.yaml")
			if tc.path == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			assertErrLine(t, err, tc.line, tc.path, tc.value)
			if c != nil {
				t.Fatalf("Parse returned a config along with %v", err)
			}
		})
	}
}

// TestReplicationTLSReportedOnce: a replication section without tls gets
// one error about it, not one per missing file.
func TestReplicationTLSReportedOnce(t *testing.T) {
	_, err := Parse([]byte(clusterYAML+"  replication:\n    address: 10.0.0.1:7400\n"), "triad.yaml")
	if n := strings.Count(fmt.Sprint(err), "cluster.replication.tls"); n != 1 {
		t.Fatalf("want one error about cluster.replication.tls, got %d:\n%v", n, err)
	}
}
