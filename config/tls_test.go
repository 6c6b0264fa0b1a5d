package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCertPair writes a fresh self-signed ECDSA certificate (usable as its
// own CA) and its key as PEM files in t.TempDir and returns their paths.
func writeCertPair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "triad-test"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// containsLine reports whether one line of s contains sub.
func containsLine(s, sub string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func tlsYAML(listenerType, tlsBlock string) string {
	return "node: {name: n1, data_dir: /var/lib/triad}\n" +
		"mqtt:\n" +
		"  listeners:\n" +
		"    - type: " + listenerType + "\n" +
		"      address: 127.0.0.1:8883\n" +
		"      tls:\n" + tlsBlock
}

func TestTLSListenerValidates(t *testing.T) {
	cert, key := writeCertPair(t)
	tests := []struct {
		name         string
		typ          string
		block        string
		wantRequired bool
		wantAuth     tls.ClientAuthType
		wantMin      uint16
	}{
		{name: "server only", typ: "tls", block: "        cert: " + cert + "\n        key: " + key + "\n",
			wantAuth: tls.NoClientCert, wantMin: tls.VersionTLS12},
		{name: "client ca defaults to required", typ: "tls", block: "        cert: " + cert + "\n        key: " + key + "\n        client_ca: " + cert + "\n        min_version: \"1.3\"\n",
			wantRequired: true, wantAuth: tls.RequireAndVerifyClientCert, wantMin: tls.VersionTLS13},
		{name: "client ca optional", typ: "tls", block: "        cert: " + cert + "\n        key: " + key + "\n        client_ca: " + cert + "\n        require_client_cert: false\n",
			wantAuth: tls.VerifyClientCertIfGiven, wantMin: tls.VersionTLS12},
		{name: "secure websocket", typ: "websocket", block: "        cert: " + cert + "\n        key: " + key + "\n",
			wantAuth: tls.NoClientCert, wantMin: tls.VersionTLS12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tlsYAML(tc.typ, tc.block)), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc0 := c.MQTT.Listeners[0].TLS
			if got := tc0.ClientCertRequired(); got != tc.wantRequired {
				t.Errorf("ClientCertRequired = %v, want %v", got, tc.wantRequired)
			}
			cfg, err := tc0.ServerConfig()
			if err != nil {
				t.Fatalf("ServerConfig: %v", err)
			}
			if cfg.ClientAuth != tc.wantAuth || cfg.MinVersion != tc.wantMin || len(cfg.Certificates) != 1 {
				t.Fatalf("tls.Config: auth %v min %x certs %d", cfg.ClientAuth, cfg.MinVersion, len(cfg.Certificates))
			}
			if tc.wantAuth != tls.NoClientCert && cfg.ClientCAs == nil {
				t.Fatal("no client CA pool")
			}
		})
	}
}

func TestTLSListenerErrors(t *testing.T) {
	cert, key := writeCertPair(t)
	otherCert, _ := writeCertPair(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name  string
		block string
		line  int
		path  string
		value string
	}{
		{name: "key does not match cert", block: "        cert: " + otherCert + "\n        key: " + key + "\n", line: 7, path: "mqtt.listeners[0].tls.cert",
			value: "cert \"" + otherCert + "\" and key \"" + key + "\" do not load as a key pair"},
		{name: "missing key file", block: "        cert: " + cert + "\n        key: " + missing + "\n", line: 8, path: "mqtt.listeners[0].tls.key",
			value: "\"" + missing + "\" cannot be read: no such file or directory"},
		{name: "missing key", block: "        cert: " + cert + "\n", line: 6, path: "mqtt.listeners[0].tls.key", value: "missing"},
		{name: "client ca not PEM", block: "        cert: " + cert + "\n        key: " + key + "\n        client_ca: " + notPEM + "\n", line: 9, path: "mqtt.listeners[0].tls.client_ca",
			value: "\"" + notPEM + "\" holds no PEM certificate"},
		{name: "client ca missing", block: "        cert: " + cert + "\n        key: " + key + "\n        client_ca: " + missing + "\n", line: 9, path: "mqtt.listeners[0].tls.client_ca",
			value: "cannot be read"},
		{name: "bad min version", block: "        cert: " + cert + "\n        key: " + key + "\n        min_version: \"1.1\"\n", line: 9, path: "mqtt.listeners[0].tls.min_version",
			value: `"1.1" is not one of 1.2, 1.3`},
		{name: "require without ca", block: "        cert: " + cert + "\n        key: " + key + "\n        require_client_cert: true\n", line: 9, path: "mqtt.listeners[0].tls.require_client_cert",
			value: "true needs client_ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tlsYAML("tls", tc.block)), "triad.yaml")
			assertErrLine(t, err, tc.line, tc.path, tc.value)
		})
	}
	t.Run("missing file is fs.ErrNotExist", func(t *testing.T) {
		_, err := (&TLSConfig{Cert: missing, Key: key, MinVersion: "1.2"}).ServerConfig()
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want os.ErrNotExist", err)
		}
	})
}
