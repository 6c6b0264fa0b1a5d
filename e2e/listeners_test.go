package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TLS, mutual TLS and WebSocket (ws and wss) listeners with a real client
// (paho, MQTT 3.1.1) over each.

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a leaf certificate: a server certificate for 127.0.0.1, or a
// client certificate.
func (ca *testCA) issue(t *testing.T, name string, server bool) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePEM writes a leaf certificate and its key as PEM files.
func writePEM(t *testing.T, dir, name string, c tls.Certificate) (certPath, keyPath string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// roundTrip connects to brokerURL, subscribes to a topic of its own and
// publishes a QoS 1 message to it, which must come back.
func roundTrip(t *testing.T, brokerURL, id string, tc *tls.Config) {
	t.Helper()
	log := newMsgLog()
	c, _, err := dialV311(brokerURL, id, true, log, tc)
	if err != nil {
		t.Fatalf("%s: %v", brokerURL, err)
	}
	defer c.Disconnect(250)
	topic := "listeners/" + id
	subV311(t, c, map[string]byte{topic: 1})
	pubV311(t, c, topic, 1, false, "hello "+id)
	waitFor(t, 10*time.Second, "round trip over "+brokerURL, func() bool { return len(log.get(topic)) > 0 })
	if got := log.payloads(topic); len(got) != 1 || got[0] != "hello "+id {
		t.Errorf("%s: received %v, want [\"hello %s\"]", brokerURL, got, id)
	}
}

// expectRefused asserts that a client cannot connect to brokerURL with tc
// and that the error mentions want.
func expectRefused(t *testing.T, brokerURL, id string, tc *tls.Config, want ...string) {
	t.Helper()
	c, _, err := dialV311(brokerURL, id, true, nil, tc)
	if err == nil {
		c.Disconnect(0)
		t.Fatalf("%s: client %s connected, want the connection refused", brokerURL, id)
	}
	t.Logf("%s: client %s refused: %v", brokerURL, id, err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: client %s refused with %q, want it to mention %q", brokerURL, id, err, w)
		}
	}
}

func TestTLSAndWebSocketListeners(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "other CA")
	srvCert, srvKey := writePEM(t, dir, "server", serverCA.issue(t, "triad", true))
	clientCAPath := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(clientCAPath, clientCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{}
	for _, id := range []string{"tls", "mtls", "ws", "wss"} {
		addr[id] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	tlsBlock := fmt.Sprintf("      tls:\n        cert: %s\n        key: %s\n", srvCert, srvKey)
	n := newNode(t, ""+
		"    - id: tls\n      type: tls\n      address: "+addr["tls"]+"\n"+tlsBlock+
		"    - id: mtls\n      type: tls\n      address: "+addr["mtls"]+"\n"+tlsBlock+
		"        client_ca: "+clientCAPath+"\n"+
		"    - type: websocket\n      address: "+addr["ws"]+"\n"+
		"    - id: wss\n      type: websocket\n      address: "+addr["wss"]+"\n"+tlsBlock+
		"        min_version: \"1.3\"\n")
	n.start()

	st, err := getStatus(n.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	wantListeners := map[string]string{"tcp0": n.mqttAddr, "tls": addr["tls"], "mtls": addr["mtls"],
		"websocket3": addr["ws"], "wss": addr["wss"]}
	if fmt.Sprint(st.Listeners) != fmt.Sprint(wantListeners) {
		t.Errorf("/status listeners %v, want %v", st.Listeners, wantListeners)
	}

	trusted := func() *tls.Config { return &tls.Config{RootCAs: serverCA.pool()} }
	withCert := func(c tls.Certificate) *tls.Config {
		tc := trusted()
		tc.Certificates = []tls.Certificate{c}
		return tc
	}

	t.Run("tls", func(t *testing.T) {
		roundTrip(t, "ssl://"+addr["tls"], "tls-ok", trusted())
		expectRefused(t, "ssl://"+addr["tls"], "tls-wrong-ca", &tls.Config{RootCAs: otherCA.pool()},
			"certificate signed by unknown authority")
		expectRefused(t, "tcp://"+addr["tls"], "tls-plaintext", nil)
	})
	t.Run("mutual tls", func(t *testing.T) {
		roundTrip(t, "ssl://"+addr["mtls"], "mtls-ok", withCert(clientCA.issue(t, "good client", false)))
		expectRefused(t, "ssl://"+addr["mtls"], "mtls-no-cert", trusted(), "certificate required")
		// Go's client sends no certificate the server's CA list does not
		// name; make it send the stranger's anyway.
		stranger := otherCA.issue(t, "stranger", false)
		forced := trusted()
		forced.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
		expectRefused(t, "ssl://"+addr["mtls"], "mtls-other-ca", forced, "unknown certificate authority")
	})
	t.Run("websocket", func(t *testing.T) {
		roundTrip(t, "ws://"+addr["ws"]+"/", "ws-ok", nil)
		// A request that is not a WebSocket upgrade is answered, not served.
		if code, body, _ := httpDo(t, "GET", "http://"+addr["ws"]+"/"); code != 400 {
			t.Errorf("plain GET on the websocket listener: %d %q, want 400", code, body)
		}
	})
	t.Run("secure websocket", func(t *testing.T) {
		roundTrip(t, "wss://"+addr["wss"]+"/", "wss-ok", trusted())
		tls12 := trusted()
		tls12.MaxVersion = tls.VersionTLS12
		expectRefused(t, "wss://"+addr["wss"]+"/", "wss-tls12", tls12, "protocol version not supported")
	})

	// All listeners serve one broker: a message published over plain TCP
	// reaches subscribers on every other listener.
	t.Run("across listeners", func(t *testing.T) {
		logs := map[string]*msgLog{}
		for id, c := range map[string]struct {
			url string
			tc  *tls.Config
		}{
			"tls":  {"ssl://" + addr["tls"], trusted()},
			"mtls": {"ssl://" + addr["mtls"], withCert(clientCA.issue(t, "client", false))},
			"ws":   {"ws://" + addr["ws"] + "/", nil},
			"wss":  {"wss://" + addr["wss"] + "/", trusted()},
		} {
			logs[id] = newMsgLog()
			cl, _, err := dialV311(c.url, "across-"+id, true, logs[id], c.tc)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Disconnect(250)
			subV311(t, cl, map[string]byte{"across": 1})
		}
		pub, _ := mustDialV311(t, "tcp://"+n.mqttAddr, "across-pub", true, nil)
		defer pub.Disconnect(250)
		pubV311(t, pub, "across", 1, false, "everywhere")
		for id, l := range logs {
			waitFor(t, 10*time.Second, "message on listener "+id, func() bool { return contains(l.payloads("across"), "everywhere") })
		}
	})
}
