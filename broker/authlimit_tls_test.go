package broker

// The TLS defaults of the client-facing listeners: clients below TLS 1.2,
// and clients offering only cipher suites without forward secrecy or an
// AEAD cipher, are refused by both the tls and the wss listener. (The
// file's name follows the naming rule of the auth-limit work it came with.)

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triadmq/triad/config"
)

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writeRSACert writes a self-signed RSA certificate for 127.0.0.1 and its
// key (RSA, so that RSA key exchange could be negotiated if it were
// allowed) and returns the two paths.
func writeRSACert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return certFile, keyFile
}

// tlsClientCase is a client's TLS versions and cipher suites (nil: Go's
// defaults), and whether a listener with the defaults must accept it.
type tlsClientCase struct {
	name     string
	min, max uint16
	suites   []uint16
	accept   bool
}

func tlsClientCases() []tlsClientCase {
	tls12 := func(name string, suites ...uint16) tlsClientCase {
		return tlsClientCase{name: name, min: tls.VersionTLS12, max: tls.VersionTLS12, suites: suites}
	}
	accepted := func(c tlsClientCase) tlsClientCase { c.accept = true; return c }
	return []tlsClientCase{
		{name: "TLS 1.3", min: tls.VersionTLS13, accept: true},
		accepted(tls12("TLS 1.2 ECDHE AES-GCM", tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)),
		accepted(tls12("TLS 1.2 ECDHE ChaCha20-Poly1305", tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)),
		{name: "TLS 1.1", min: tls.VersionTLS11, max: tls.VersionTLS11},
		{name: "TLS 1.0", min: tls.VersionTLS10, max: tls.VersionTLS10},
		tls12("TLS 1.2 RSA key exchange", tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA),
		tls12("TLS 1.2 3DES and RC4", tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_RC4_128_SHA),
		tls12("TLS 1.2 ECDHE AES-CBC", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256),
	}
}

// handshake dials addr as client c and returns the handshake's error.
func handshake(addr string, c tlsClientCase, roots *x509.CertPool) error {
	conf := &tls.Config{MinVersion: c.min, MaxVersion: c.max, CipherSuites: c.suites,
		RootCAs: roots, ServerName: "127.0.0.1"}
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return err
	}
	return conn.Close()
}

func TestListenerTLSDefaultsRefuseWeakClients(t *testing.T) {
	certFile, keyFile := writeRSACert(t)
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)

	// Every client below must be able to connect to a server that allows
	// everything: a refusal by the listeners is then theirs.
	t.Run("control: a permissive server accepts every client", func(t *testing.T) {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		var all []uint16
		for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
			all = append(all, s.ID)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair},
			MinVersion: tls.VersionTLS10, CipherSuites: all})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go serveHandshakes(ln)
		for _, tc := range tlsClientCases() {
			if err := handshake(ln.Addr().String(), tc, roots); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	})

	for _, typ := range []string{"tls", "websocket"} {
		t.Run(typ, func(t *testing.T) {
			lc := config.Listener{ID: typ, Type: typ, Address: "127.0.0.1:0",
				TLS: &config.TLSConfig{Cert: certFile, Key: keyFile}}
			lc.TLS.MinVersion = config.DefaultTLSMinVersion
			l, err := newListener(lc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Init(slog.New(slog.NewTextHandler(testWriter{t}, nil))); err != nil {
				t.Fatal(err)
			}
			go l.Serve(func(_ string, c net.Conn) error {
				_, _ = c.Read(make([]byte, 1)) // runs the handshake; its outcome is the client's to see
				return nil
			})
			t.Cleanup(func() { l.Close(func(string) {}) })
			for _, tc := range tlsClientCases() {
				err := handshake(l.Address(), tc, roots)
				switch {
				case tc.accept && err != nil:
					t.Errorf("%s: refused: %v", tc.name, err)
				case !tc.accept && err == nil:
					t.Errorf("%s: accepted, want the handshake refused", tc.name)
				case !tc.accept:
					t.Logf("%s: refused as it should be: %v", tc.name, err)
				}
			}
		})
	}
}

// serveHandshakes completes the TLS handshake of every connection ln
// accepts, then closes it.
func serveHandshakes(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			_ = c.(*tls.Conn).Handshake() // the client reports the outcome
			_ = c.Close()
		}()
	}
}
