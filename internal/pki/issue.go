package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"
)

// backdate is how long before "now" a certificate becomes valid, so that a
// node whose clock is a little behind accepts it at once.
const backdate = 5 * time.Minute

// authority is a CA that signs node certificates.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// pemPair is a certificate and its private key, PEM-encoded.
type pemPair struct {
	cert, key []byte
}

// newCA makes a self-signed CA for cluster: ECDSA P-256, valid from
// backdate before now for validity, naming cluster in its common name and
// in a triad://<cluster> URI SAN. It may sign end-entity certificates only
// (MaxPathLen 0).
func newCA(cluster string, now time.Time, validity time.Duration) (*authority, pemPair, error) {
	key, serial, err := newKeyAndSerial()
	if err != nil {
		return nil, pemPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Triad CA " + cluster},
		URIs:                  []*url.URL{clusterURI(cluster)},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, pemPair{}, fmt.Errorf("create the CA certificate of cluster %q: %w", cluster, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, pemPair{}, fmt.Errorf("parse the new CA certificate of cluster %q: %w", cluster, err)
	}
	p, err := encode(der, key)
	if err != nil {
		return nil, pemPair{}, err
	}
	return &authority{cert: cert, key: key}, p, nil
}

// issue makes node's certificate in cluster, for TLS servers and clients
// alike: ECDSA P-256, valid from backdate before now for validity but not
// past the CA's own expiry, for node's hosts and its identity URI.
func (a *authority) issue(cluster string, node NodeSpec, now time.Time, validity time.Duration) (pemPair, error) {
	key, serial, err := newKeyAndSerial()
	if err != nil {
		return pemPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node.Name},
		URIs:         []*url.URL{IdentityURI(cluster, node.Name)},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.After(a.cert.NotAfter) {
		tmpl.NotAfter = a.cert.NotAfter
	}
	for _, h := range node.Hosts {
		ip := net.ParseIP(h)
		switch {
		case ip == nil && !slices.Contains(tmpl.DNSNames, h):
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		case ip != nil && !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal):
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return pemPair{}, fmt.Errorf("create the certificate of node %q: %w", node.Name, err)
	}
	return encode(der, key)
}

// newKeyAndSerial returns a new P-256 key and a random, positive 128-bit
// serial number.
func newKeyAndSerial() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate a P-256 key: %w", err)
	}
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("generate a serial number: %w", err)
		}
		if serial := new(big.Int).SetBytes(b); serial.Sign() > 0 {
			return key, serial, nil
		}
	}
}

// encode PEM-encodes a certificate ("CERTIFICATE") and its key (PKCS #8,
// "PRIVATE KEY").
func encode(certDER []byte, key *ecdsa.PrivateKey) (pemPair, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return pemPair{}, fmt.Errorf("encode a private key as PKCS #8: %w", err)
	}
	return pemPair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
