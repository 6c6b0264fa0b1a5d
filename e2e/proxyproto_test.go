package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/demo"
)

// PROXY protocol on the MQTT listener (mqtt.listeners[].proxy_protocol):
// a trusted proxy names each client in a header, and the node's log and
// its failed-authentication limit key on that client, not on the proxy.

// newProxyProtoNode is a standalone node whose tcp listener trusts
// PROXY headers from trusted (a YAML list item), with dynsec enabled
// (Mosquitto's fixture file: bob/bobpass among others) and the default
// mqtt.auth_rate_limit (10 failures in 1m block for 1m).
func newProxyProtoNode(t *testing.T, trusted string) *node {
	t.Helper()
	data, err := os.ReadFile(mosquittoFixture)
	if err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(t.TempDir(), "dynamic-security.json")
	if err := os.WriteFile(seed, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return newNode(t, "      proxy_protocol: {trusted: ["+trusted+"]}\n"+
		"  auth_rate_limit: {failures: 10, window: 1m, block: 1m}\n"+
		"dynsec:\n  enabled: true\n  file: "+seed+"\n")
}

// proxyV2 is a PROXY protocol v2 header for a TCP connection from the
// IPv4 address:port client to the node at 10.0.0.1:1883.
func proxyV2(client string) []byte {
	src := netip.MustParseAddrPort(client)
	var b bytes.Buffer
	b.WriteString("\r\n\r\n\x00\r\nQUIT\n") // signature
	b.Write([]byte{0x21, 0x11, 0, 12})      // v2 PROXY, TCP over IPv4, 12 bytes of addresses
	b.Write(src.Addr().AsSlice())
	b.Write([]byte{10, 0, 0, 1})
	b.Write(binary.BigEndian.AppendUint16(nil, src.Port()))
	b.Write(binary.BigEndian.AppendUint16(nil, 1883))
	return b.Bytes()
}

// errNoConnack: the node closed the connection without answering the
// CONNECT.
var errNoConnack = errors.New("connection closed without a CONNACK")

// connectWithHeader dials addr from the local address src, sends header
// (none if nil) and an MQTT 3.1.1 CONNECT with user and pass, and returns
// the CONNACK's return code, or errNoConnack.
func connectWithHeader(t *testing.T, src, addr string, header []byte, id, user, pass string) (byte, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer conn.Close()
	if _, err := conn.Write(header); err != nil {
		return 0, fmt.Errorf("%w: write the header: %w", errNoConnack, err)
	}
	// A write refused by a closed connection is the same answer: none.
	if err := writePacket(conn, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass)},
	}); err != nil {
		return 0, fmt.Errorf("%w: write CONNECT: %w", errNoConnack, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ack, err := readPacket(bufio.NewReader(conn))
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("CONNECT from %s as %s: no answer and no close within 10s", src, user)
		}
		return 0, fmt.Errorf("%w: %w", errNoConnack, err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("CONNECT from %s as %s: packet type %d, want CONNACK", src, user, ack.FixedHeader.Type)
	}
	if ack.ReasonCode == connAccepted {
		if err := writePacket(conn, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}); err != nil {
			t.Logf("DISCONNECT from %s: %v", src, err)
		}
	}
	return ack.ReasonCode, nil
}

// mustConnectWithHeader is connectWithHeader for a connection that must
// be answered.
func mustConnectWithHeader(t *testing.T, src, addr string, header []byte, id, user, pass string) byte {
	t.Helper()
	rc, err := connectWithHeader(t, src, addr, header, id, user, pass)
	if err != nil {
		t.Fatalf("CONNECT from %s as %s: %v", src, user, err)
	}
	return rc
}

// logLine returns the first line of log holding every one of parts, or
// "" if there is none.
func logLine(log string, parts ...string) string {
	for _, line := range strings.Split(log, "\n") {
		found := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				found = false
				break
			}
		}
		if found {
			return line
		}
	}
	return ""
}

const refusedLogLine = `msg="connection refused: not authorized"`

// TestProxyProtocolAuthLimit: behind a trusted proxy (127.0.0.1), ten
// failed logins from 192.0.2.7 — each named by a PROXY v2 header —
// block 192.0.2.7 and nobody else: 192.0.2.8 with the right password,
// behind the same proxy, still logs in, and so does the proxy's own
// address without a header. The node logs the clients' addresses.
func TestProxyProtocolAuthLimit(t *testing.T) {
	n := newProxyProtoNode(t, "127.0.0.1/32")
	n.start()
	proxy := "127.0.0.1"

	for i := range 10 {
		hdr := proxyV2(fmt.Sprintf("192.0.2.7:%d", 40000+i))
		if rc := mustConnectWithHeader(t, proxy, n.mqttAddr, hdr, "guess", "bob", "wrong"); rc != connNotAuthorized {
			t.Fatalf("wrong password %d from 192.0.2.7: CONNACK %d, want %d", i+1, rc, connNotAuthorized)
		}
	}
	if rc := mustConnectWithHeader(t, proxy, n.mqttAddr, proxyV2("192.0.2.7:41000"), "bob-7", "bob", "bobpass"); rc != connNotAuthorized {
		t.Fatalf("right password from the blocked 192.0.2.7: CONNACK %d, want %d (blocked)", rc, connNotAuthorized)
	}
	// A v1 header naming the same client is refused alike.
	v1 := []byte("PROXY TCP4 192.0.2.7 10.0.0.1 41001 1883\r\n")
	if rc := mustConnectWithHeader(t, proxy, n.mqttAddr, v1, "bob-7v1", "bob", "bobpass"); rc != connNotAuthorized {
		t.Fatalf("right password from the blocked 192.0.2.7 (v1 header): CONNACK %d, want %d (blocked)", rc, connNotAuthorized)
	}
	if rc := mustConnectWithHeader(t, proxy, n.mqttAddr, proxyV2("192.0.2.8:40000"), "bob-8", "bob", "bobpass"); rc != connAccepted {
		t.Fatalf("right password from 192.0.2.8 behind the same proxy: CONNACK %d, want accepted", rc)
	}
	if rc := mustConnectWithHeader(t, proxy, n.mqttAddr, nil, "bob-plain", "bob", "bobpass"); rc != connAccepted {
		t.Fatalf("right password from %s without a header: CONNACK %d, want accepted", proxy, rc)
	}

	out := n.output()
	for _, want := range [][]string{
		{blockedLogLine, " source=192.0.2.7 ", " remote=192.0.2.7:40009 "},
		{refusedLogLine, " client=guess ", " remote=192.0.2.7:40000 "},
	} {
		if logLine(out, want...) == "" {
			t.Errorf("the log has no line with all of %q", want)
		}
	}
	if got := strings.Count(out, blockedLogLine); got != 1 {
		t.Errorf("%d blocks logged, want 1 (192.0.2.7's)", got)
	}
	if line := logLine(out, refusedLogLine, " remote="+proxy+":"); line != "" {
		t.Errorf("a failed login was logged with the proxy's address: %s", line)
	}
	if m := scrapeMetrics(t, n); m["triad_auth_blocked_sources"] != 1 || m["triad_auth_failures_total"] != 10 {
		t.Errorf("/metrics blocked sources %v, failures %v; want 1 and 10", m["triad_auth_blocked_sources"], m["triad_auth_failures_total"])
	}
}

// TestProxyProtocolUntrustedPeer: with only 127.0.0.2 trusted, a PROXY
// header from 127.0.0.1 is refused — the connection closed unanswered,
// the peer logged at warn — whatever the header claims; plain MQTT from
// 127.0.0.1 still works, and 127.0.0.2's header is taken.
func TestProxyProtocolUntrustedPeer(t *testing.T) {
	n := newProxyProtoNode(t, "127.0.0.2/32")
	n.start()

	rc, err := connectWithHeader(t, "127.0.0.1", n.mqttAddr, proxyV2("192.0.2.7:40000"), "forger", "bob", "bobpass")
	if !errors.Is(err, errNoConnack) {
		t.Fatalf("PROXY header from the untrusted 127.0.0.1: CONNACK %d (%v), want the connection closed unanswered", rc, err)
	}
	waitFor(t, 5*time.Second, "the refusal in the log", func() bool {
		return logLine(n.output(), `level=WARN msg="connection refused: PROXY header from an untrusted peer"`, " listener=tcp0 ", " remote=127.0.0.1:") != ""
	})
	if strings.Contains(n.output(), "192.0.2.7") {
		t.Errorf("the forged address 192.0.2.7 reached the log:\n%s", n.output())
	}
	if rc := mustConnectWithHeader(t, "127.0.0.1", n.mqttAddr, nil, "bob-plain", "bob", "bobpass"); rc != connAccepted {
		t.Fatalf("plain MQTT from 127.0.0.1: CONNACK %d, want accepted", rc)
	}
	if rc := mustConnectWithHeader(t, "127.0.0.2", n.mqttAddr, proxyV2("192.0.2.9:40000"), "guess", "bob", "wrong"); rc != connNotAuthorized {
		t.Fatalf("wrong password behind the trusted 127.0.0.2: CONNACK %d, want %d", rc, connNotAuthorized)
	}
	waitFor(t, 5*time.Second, "192.0.2.9 in the log", func() bool {
		return logLine(n.output(), refusedLogLine, " remote=192.0.2.9:40000 ") != ""
	})
}

// TestProxyProtocolThroughHAProxy: the demo's HAProxy (send-proxy-v2)
// in front of a cluster whose listeners trust it. Clients on 127.0.0.2
// and 127.0.0.3 both reach the leader through HAProxy (127.0.0.1): the
// leader logs each one's own address, and ten failed logins from
// 127.0.0.2 block 127.0.0.2 alone.
func TestProxyProtocolThroughHAProxy(t *testing.T) {
	c := newCluster(t)
	p := c.startProxy()
	leader := c.leader()
	addr := p.Addr()

	for i := range 10 {
		if rc := mustConnectWithHeader(t, "127.0.0.2", addr, nil, fmt.Sprintf("guess-%d", i), demo.AdminUser, "wrong"); rc != connNotAuthorized {
			t.Fatalf("wrong password %d from 127.0.0.2 through haproxy: CONNACK %d, want %d", i+1, rc, connNotAuthorized)
		}
	}
	if rc := mustConnectWithHeader(t, "127.0.0.2", addr, nil, "admin-2", demo.AdminUser, c.l.AdminPassword); rc != connNotAuthorized {
		t.Fatalf("right password from the blocked 127.0.0.2 through haproxy: CONNACK %d, want %d (blocked)", rc, connNotAuthorized)
	}
	if rc := mustConnectWithHeader(t, "127.0.0.3", addr, nil, "admin-3", demo.AdminUser, c.l.AdminPassword); rc != connAccepted {
		t.Fatalf("right password from 127.0.0.3 through haproxy: CONNACK %d, want accepted (only 127.0.0.2 is blocked)", rc)
	}
	if c.leader() != leader {
		t.Fatalf("the leader changed during the test (%s, now %s)", leader, c.leader())
	}
	data, err := os.ReadFile(c.node(leader).LogPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	for _, want := range [][]string{
		{refusedLogLine, " client=guess-0 ", " remote=127.0.0.2:"},
		{blockedLogLine, " source=127.0.0.2 ", " remote=127.0.0.2:"},
	} {
		if logLine(log, want...) == "" {
			t.Errorf("%s's log has no line with all of %q:\n%s", leader, want, lastLines(log, 40))
		}
	}
	if line := logLine(log, refusedLogLine, " remote=127.0.0.1:"); line != "" {
		t.Errorf("%s logged a failed login with HAProxy's own address: %s", leader, line)
	}
}
