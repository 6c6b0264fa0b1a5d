package config

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/triadmq/triad/internal/pki"
)

// ReplicationTLS is the mutual TLS of the replication stream: every node
// presents cert (a client and server certificate) and accepts only peers
// whose certificate ca signed. `triadctl certs init` makes all three files.
type ReplicationTLS struct {
	CA   string `yaml:"ca"`   // PEM CA that signed every node's certificate; required
	Cert string `yaml:"cert"` // this node's PEM certificate; required
	Key  string `yaml:"key"`  // its PEM private key; required
}

// checkSecurity reports a replication section that neither secures the
// stream nor says, with insecure, that it need not be.
func (r *Replication) checkSecurity(errs *Errors, cluster, node string) {
	const p = "cluster.replication"
	switch {
	case r.TLS == nil && !r.Insecure:
		errs.Add(p+".tls", "missing: the replication stream needs mutual TLS (ca, cert and key; `triadctl certs init` makes them), or insecure: true for plaintext without authentication (one test machine only)")
	case r.TLS != nil && r.Insecure:
		errs.Add(p+".insecure", "true cannot be combined with %s.tls: remove one of them", p)
	case r.TLS != nil:
		r.TLS.check(errs, p+".tls", cluster, node)
	}
}

// check loads the three files, and checks that the certificate is signed
// by the CA for both directions of a connection and, if it carries a Triad
// identity, that it names this cluster and node.
func (t *ReplicationTLS) check(errs *Errors, path, cluster, node string) {
	caPEM := readPEM(errs, path+".ca", t.CA)
	certPEM := readPEM(errs, path+".cert", t.Cert)
	keyPEM := readPEM(errs, path+".key", t.Key)
	pool := x509.NewCertPool()
	if caPEM != nil && !pool.AppendCertsFromPEM(caPEM) {
		errs.Add(path+".ca", "%q holds no PEM certificate", t.CA)
		caPEM = nil
	}
	if certPEM == nil || keyPEM == nil {
		return
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		errs.AddCause(path+".cert", err, "cert %q and key %q do not load as a key pair", t.Cert, t.Key)
		return
	}
	leaf := pair.Leaf
	if c, n, ok := pki.Identity(leaf); ok && (c != cluster || n != node) {
		errs.Add(path+".cert", "%q is the certificate of node %q of cluster %q; this is node %q of cluster %q", t.Cert, n, c, node, cluster)
	}
	if caPEM == nil {
		return
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
		if err != nil {
			errs.AddCause(path+".cert", err, "%q does not verify against ca %q for %s", t.Cert, t.CA, usageName(usage))
			return
		}
	}
}

func usageName(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageServerAuth {
		return "server authentication"
	}
	return "client authentication"
}
