package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// newAuthLimitNode is a standalone node with dynsec enabled, seeded with
// Mosquitto's fixture file (bob/bobpass among others), and
// mqtt.auth_rate_limit set to limit (a YAML flow mapping).
func newAuthLimitNode(t *testing.T, limit string) *node {
	t.Helper()
	data, err := os.ReadFile(mosquittoFixture)
	if err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(t.TempDir(), "dynamic-security.json")
	if err := os.WriteFile(seed, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return newNode(t, "  auth_rate_limit: "+limit+"\ndynsec:\n  enabled: true\n  file: "+seed+"\n")
}

// connectFrom sends an MQTT 3.1.1 CONNECT with user and pass to addr over
// a connection from the local address src, and returns the CONNACK's
// return code (0: accepted; the client then disconnects).
func connectFrom(t *testing.T, src, addr, id, user, pass string) byte {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer conn.Close()
	if err := writePacket(conn, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass)},
	}); err != nil {
		t.Fatalf("CONNECT from %s as %s: %v", src, user, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	ack, err := readPacket(bufio.NewReader(conn))
	if err != nil || ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("CONNECT from %s as %s: no CONNACK (%v, packet type %d)", src, user, err, ack.FixedHeader.Type)
	}
	if ack.ReasonCode == 0 {
		if err := writePacket(conn, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}); err != nil {
			t.Logf("DISCONNECT from %s: %v", src, err)
		}
	}
	return ack.ReasonCode
}

const (
	connAccepted      = 0    // MQTT 3.1.1 CONNACK return code
	connNotAuthorized = 5    // MQTT 3.1.1 CONNACK return code 5
	connNotAuthV5     = 0x87 // MQTT 5 CONNACK reason code
	blockedLogLine    = `msg="source address blocked after failed authentications"`
)

// TestAuthRateLimitBlocksSource: with failures: 3, three failed logins
// from 127.0.0.1 — a successful one between them resets nothing — block
// that address: its next CONNECTs are refused even with the right
// password, over MQTT 3.1.1 and 5, while 127.0.0.2 still logs in. The
// block is logged once, shows in the metrics, and lifts after block (and
// not before).
func TestAuthRateLimitBlocksSource(t *testing.T) {
	const block = 6 * time.Second
	n := newAuthLimitNode(t, "{failures: 3, window: 1m, block: 6s}")
	n.start()
	blocked, other := "127.0.0.1", "127.0.0.2"

	if rc := connectFrom(t, blocked, n.mqttAddr, "guess-1", "bob", "wrong1"); rc != connNotAuthorized {
		t.Fatalf("first wrong password: CONNACK %d, want %d", rc, connNotAuthorized)
	}
	if rc := connectFrom(t, blocked, n.mqttAddr, "bob-1", "bob", "bobpass"); rc != connAccepted {
		t.Fatalf("right password after one failure: CONNACK %d, want accepted", rc)
	}
	if rc := connectFrom(t, blocked, n.mqttAddr, "guess-2", "nobody", "x"); rc != connNotAuthorized {
		t.Fatalf("unknown user: CONNACK %d, want %d", rc, connNotAuthorized)
	}
	t0 := time.Now() // the block starts after this instant
	// late explains a check made while the block should hold that found
	// it lifted: a machine too slow for the 6s block.
	late := func() string {
		if d := time.Since(t0); d >= block {
			return fmt.Sprintf(" (checked %v after the block began, later than block: the machine is too slow for this test)", d)
		}
		return ""
	}
	if rc := connectFrom(t, blocked, n.mqttAddr, "guess-3", "bob", "wrong3"); rc != connNotAuthorized {
		t.Fatalf("third failure: CONNACK %d, want %d", rc, connNotAuthorized)
	}

	if rc := connectFrom(t, blocked, n.mqttAddr, "bob-2", "bob", "bobpass"); rc != connNotAuthorized {
		t.Fatalf("right password from the blocked address: CONNACK %d, want %d (refused)%s", rc, connNotAuthorized, late())
	}
	if cl, code := dialV5As(t, n.mqttAddr, "bob-v5", "bob", "bobpass", nil); cl != nil || code != connNotAuthV5 {
		t.Fatalf("right password from the blocked address over MQTT 5: CONNACK %#x, want %#x%s", code, connNotAuthV5, late())
	}
	if rc := connectFrom(t, other, n.mqttAddr, "bob-3", "bob", "bobpass"); rc != connAccepted {
		t.Fatalf("right password from %s: CONNACK %d, want accepted", other, rc)
	}
	m := scrapeMetrics(t, n)
	for name, want := range map[string]float64{
		"triad_auth_failures_total":            3,
		"triad_auth_blocks_total":              1,
		"triad_auth_blocked_connections_total": 2,
		"triad_auth_blocked_sources":           1,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("/metrics %s = %v (present %v), want %v%s", name, got, ok, want, late())
		}
	}

	// Attempts during the block neither count nor extend it.
	waitFor(t, 30*time.Second, "the block of "+blocked+" to lift", func() bool {
		return connectFrom(t, blocked, n.mqttAddr, "bob-4", "bob", "bobpass") == connAccepted
	})
	if since := time.Since(t0); since < block {
		t.Errorf("the block lifted %v after it started, before block (%v)", since, block)
	}
	if got := strings.Count(n.output(), blockedLogLine); got != 1 {
		t.Errorf("the block was logged %d times, want once:\n%s", got, n.output())
	}
	if m := scrapeMetrics(t, n); m["triad_auth_blocked_sources"] != 0 {
		t.Errorf("/metrics triad_auth_blocked_sources = %v after the block, want 0", m["triad_auth_blocked_sources"])
	}
}

// TestAuthRateLimitOff: failures: 0 limits nothing; failures are still
// counted.
func TestAuthRateLimitOff(t *testing.T) {
	n := newAuthLimitNode(t, "{failures: 0}")
	n.start()
	for i := range 12 {
		if rc := connectFrom(t, "127.0.0.1", n.mqttAddr, "guess", "bob", "wrong"); rc != connNotAuthorized {
			t.Fatalf("wrong password %d: CONNACK %d, want %d", i+1, rc, connNotAuthorized)
		}
	}
	if rc := connectFrom(t, "127.0.0.1", n.mqttAddr, "bob", "bob", "bobpass"); rc != connAccepted {
		t.Fatalf("right password after 12 failures with the limit off: CONNACK %d, want accepted", rc)
	}
	if m := scrapeMetrics(t, n); m["triad_auth_failures_total"] != 12 || m["triad_auth_blocks_total"] != 0 {
		t.Errorf("/metrics failures %v blocks %v, want 12 and 0", m["triad_auth_failures_total"], m["triad_auth_blocks_total"])
	}
}
