package lbagent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triadmq/triad/lbagent/haproxytest"
)

const packagedHAProxy = "../packaging/haproxy/haproxy.cfg"

// An empty server state file as HAProxy writes it (version 1, header).
const emptyStateFile = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"

// selfSignedPEM writes a certificate and its key, concatenated as HAProxy's
// "crt" wants them, to dir/mqtt.pem.
func selfSignedPEM(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mqtt.test"},
		DNSNames:     []string{"mqtt.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	path := filepath.Join(dir, "mqtt.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// adaptConfig returns the packaged haproxy.cfg with each old string
// replaced by its new one, failing if one is missing (the packaged file
// changed under the test), and without the lines whose trimmed text
// starts with one of drop.
func adaptConfig(t *testing.T, replace []string, drop []string) string {
	t.Helper()
	data, err := os.ReadFile(packagedHAProxy)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(data)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(cfg, replace[i]) {
			t.Fatalf("%s no longer contains %q", packagedHAProxy, replace[i])
		}
		cfg = strings.ReplaceAll(cfg, replace[i], replace[i+1])
	}
	var kept []string
	for _, line := range strings.Split(cfg, "\n") {
		dropped := false
		for _, d := range drop {
			if strings.HasPrefix(strings.TrimSpace(line), d) {
				dropped = true
			}
		}
		if !dropped {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// TestPackagedHAProxyConfigIsValid: `haproxy -c` accepts the shipped
// config as it is, but for the files it must find (the TLS certificate,
// the state file), which are made in a temporary directory.
func TestPackagedHAProxyConfigIsValid(t *testing.T) {
	bin := haproxytest.Binary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "server-state")
	if err := os.WriteFile(state, []byte(emptyStateFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := adaptConfig(t, []string{
		"/etc/haproxy/certs/mqtt.pem", selfSignedPEM(t, dir),
		"/var/lib/haproxy/server-state", state,
	}, nil)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c -f %s: %v\n%s", path, err, out)
	}
	if strings.Contains(string(out), "WARNING") || strings.Contains(string(out), "ALERT") {
		t.Errorf("haproxy -c warns:\n%s", out)
	}
}

// readAll reads c to its end (5s at most) and closes it.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read through haproxy: %v (got %q)", err, b)
	}
	return string(b)
}

// proxyV2Source reads the PROXY protocol v2 header c starts with and
// returns the IPv4 source address:port it carries, or what is wrong.
func proxyV2Source(c net.Conn) string {
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err.Error()
	}
	var fixed [16]byte
	if _, err := io.ReadFull(c, fixed[:]); err != nil {
		return fmt.Sprintf("no PROXY header (%v)", err)
	}
	if string(fixed[:12]) != "\r\n\r\n\x00\r\nQUIT\n" || fixed[12] != 0x21 || fixed[13] != 0x11 {
		return fmt.Sprintf("no PROXY v2 TCP4 header (%q)", fixed[:])
	}
	block := make([]byte, binary.BigEndian.Uint16(fixed[14:]))
	if _, err := io.ReadFull(c, block); err != nil || len(block) < 12 {
		return fmt.Sprintf("PROXY header cut short (%v)", err)
	}
	return net.JoinHostPort(net.IP(block[:4]).String(), strconv.Itoa(int(binary.BigEndian.Uint16(block[8:]))))
}

// TestPackagedHAProxyRuns runs the shipped config on loopback ports: the
// /leader health checks find the leader, plain and TLS clients reach it
// and are named to it in a PROXY v2 header, and states set through the
// Runtime API survive a restart through the server state file.
func TestPackagedHAProxyRuns(t *testing.T) {
	haproxytest.Binary(t)
	dir := shortDir(t)
	state := filepath.Join(dir, "server-state")
	if err := os.WriteFile(state, []byte(emptyStateFile), 0o600); err != nil {
		t.Fatal(err)
	}
	// Three nodes: an MQTT port counting connections, and a health port
	// answering /leader with 200 on n2 only.
	type node struct {
		mqtt, health string
		conns        atomic.Int64
	}
	nodes := make([]*node, 3)
	for i := range nodes {
		n := &node{}
		nodes[i] = n
		name := fmt.Sprintf("n%d", i+1)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		n.mqtt = l.Addr().String()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				n.conns.Add(1)
				// Says who answered and whom HAProxy says it relays
				// (send-proxy-v2), then hangs up.
				_, _ = c.Write([]byte(name + " for " + proxyV2Source(c)))
				_ = c.Close()
			}
		}()
		leader := i == 1
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/leader" && leader {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}), ReadHeaderTimeout: 5 * time.Second}
		hl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n.health = hl.Addr().String()
		go func() { _ = hs.Serve(hl) }() // ends with Close below
		t.Cleanup(func() { _ = hs.Close() })
	}
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	plain, tlsAddr := freeAddr(t), freeAddr(t)
	sock := filepath.Join(dir, "admin.sock")
	cfg := adaptConfig(t, []string{
		"/etc/haproxy/certs/mqtt.pem", selfSignedPEM(t, dir),
		"/var/lib/haproxy/server-state", state,
		"/run/haproxy/admin.sock", sock,
		"maxconn 50000", "maxconn 1000", // the test machine's open-file limit
		"bind :1883", "bind " + plain,
		"bind :8883", "bind " + tlsAddr,
		"bind 127.0.0.1:8404", "bind " + freeAddr(t),
		"server n1 10.0.0.1:1883", "server n1 " + nodes[0].mqtt + " port " + port(nodes[0].health),
		"server n2 10.0.0.2:1883", "server n2 " + nodes[1].mqtt + " port " + port(nodes[1].health),
		"server n3 10.0.0.3:1883", "server n3 " + nodes[2].mqtt + " port " + port(nodes[2].health),
	}, []string{"chroot", "user ", "group ", "daemon", "log /dev/log"})
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h := wrapHAProxy(t, haproxytest.StartConfig(t, path, sock))
	rt := h.rt

	// The health checks: n2 up, the others down.
	waitFor(t, "health checks: only n2 up", 10*time.Second, func() bool {
		s, err := rt.ServersState(context.Background(), "triad")
		return err == nil && len(s) == 3 && s[0].Op == OpStopped && s[1].Op == OpRunning && s[2].Op == OpStopped
	})
	// Plain and TLS clients reach n2, which gets each client's address in
	// a PROXY v2 header (the health checks above got none: the health
	// server would have answered 400).
	c, err := net.DialTimeout("tcp", plain, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, c), "n2 for "+c.LocalAddr().String(); got != want {
		t.Errorf("plain client reached %q; want %q", got, want)
	}
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tlsAddr,
		&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // a throwaway self-signed test certificate
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, tc), "n2 for "+tc.LocalAddr().String(); got != want {
		t.Errorf("TLS client reached %q; want %q", got, want)
	}
	if a, b := nodes[0].conns.Load(), nodes[2].conns.Load(); a+b != 0 {
		t.Errorf("followers got %d and %d connections", a, b)
	}

	// What the agent sets survives a restart through the state file.
	for _, s := range []string{"n1", "n3"} {
		if err := rt.SetServerState(context.Background(), "triad", s, AdminMaint); err != nil {
			t.Fatal(err)
		}
	}
	dump, err := rt.Do(context.Background(), "show servers state")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte(dump+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.Restart()
	if got, err := h.admins("triad"); err != nil || got != "n1=maint n2=ready n3=maint" {
		t.Fatalf("after a restart with the state file: %q, %v; want n1 and n3 still in maint", got, err)
	}
}
