package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File modes of what Init writes.
const (
	dirMode  fs.FileMode = 0o700
	certMode fs.FileMode = 0o644
	keyMode  fs.FileMode = 0o600
)

// loadCA loads the CA in dir, or returns nil if dir holds neither ca.pem
// nor ca-key.pem. It refuses a CA that is half there, whose key is not the
// certificate's, that is not a CA, that names no cluster or another one, or
// that has expired by now.
func loadCA(dir, cluster string, now time.Time) (*authority, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	haveCert, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	haveKey, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	switch {
	case !haveCert && !haveKey:
		return nil, nil
	case !haveKey:
		return nil, fmt.Errorf("%s exists but %s does not: put the CA key back to add nodes to this CA, or use another directory for a new CA", certPath, keyPath)
	case !haveCert:
		return nil, fmt.Errorf("%s exists but %s does not: put the CA certificate back, or use another directory for a new CA", keyPath, certPath)
	}
	cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s is not the key of %s (subject %q)", keyPath, certPath, cert.Subject.CommonName)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s (subject %q) is not a CA certificate that may sign certificates", certPath, cert.Subject.CommonName)
	}
	switch c, ok := caCluster(cert); {
	case !ok:
		return nil, fmt.Errorf("%s (subject %q) names no Triad cluster (no triad://<cluster> URI SAN): use another directory for the CA of cluster %q", certPath, cert.Subject.CommonName, cluster)
	case c != cluster:
		return nil, fmt.Errorf("%s is the CA of cluster %q, not %q: use another directory for the CA of cluster %q", certPath, c, cluster, cluster)
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%s expired on %s", certPath, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return &authority{cert: cert, key: key}, nil
}

// readCert reads the first certificate in the PEM file at path.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return cert, nil
	}
	return nil, fmt.Errorf("%s holds no PEM certificate", path)
}

// readKey reads the private key in the PEM file at path: PKCS #8
// ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "EC PARAMETERS": // openssl ecparam -genkey writes these first
			continue
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return key, nil
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			signer, ok := key.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("%s: a %T cannot sign", path, key)
			}
			return signer, nil
		default:
			return nil, fmt.Errorf("%s: PEM block %q is not a private key (want PRIVATE KEY or EC PRIVATE KEY)", path, block.Type)
		}
	}
	return nil, fmt.Errorf("%s holds no PEM private key", path)
}

// exists reports whether path exists (as anything, even a broken symlink).
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("check for an existing file: %w", err)
}
