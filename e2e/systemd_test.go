package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify checks the node's side of Type=notify and WatchdogSec=
// against a socket of the test's own, as systemd would provide it: READY=1
// with a STATUS line once serving, WATCHDOG=1 pings more often than the
// watchdog interval, STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "1000000") // 1 s: pings every 0.5 s
	n := newNode(t, "")
	n.start()

	next := func(within time.Duration) string {
		t.Helper()
		if err := conn.SetReadDeadline(time.Now().Add(within)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification within %v: %v", within, err)
		}
		return string(buf[:k])
	}
	if got := next(5 * time.Second); got != "READY=1\nSTATUS=standalone: serving MQTT" {
		t.Fatalf("first notification %q, want readiness with the role", got)
	}
	// Each ping within the watchdog interval, or systemd would kill us.
	for i := 0; i < 3; i++ {
		if got := next(time.Second); got != "WATCHDOG=1" {
			t.Fatalf("notification %q, want a watchdog ping within the 1 s interval", got)
		}
	}
	n.signal(syscall.SIGTERM)
	for {
		got := next(5 * time.Second)
		if strings.HasPrefix(got, "STOPPING=1\n") {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("notification %q while stopping, want STOPPING=1", got)
		}
	}
	if err := n.wait(10 * time.Second); err != nil {
		t.Fatalf("triad after SIGTERM: %v", err)
	}
}

// TestSystemdNotifyCluster: in a cluster each node tells systemd it is
// ready once it serves (the leader) or follows a known leader, never
// while it is still finding its place.
func TestSystemdNotifyCluster(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock) // the three nodes inherit it
	c := newCluster(t)
	c.waitInSync(2)

	var leaders, followers int
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 4096)
	for leaders+followers < 3 {
		if err := conn.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%d leader and %d follower readiness notifications, want one per node: %v", leaders, followers, err)
		}
		msg := string(buf[:k])
		if !strings.HasPrefix(msg, "READY=1\n") {
			continue // status lines and pings before and after
		}
		status := strings.TrimPrefix(msg, "READY=1\nSTATUS=")
		switch {
		case strings.HasPrefix(status, "leader of e2e") && strings.HasSuffix(status, ": serving MQTT"):
			leaders++
		case strings.HasPrefix(status, "follower in e2e (leader n"):
			followers++
		default:
			t.Errorf("READY=1 with status %q: neither serving nor following", status)
		}
	}
	// A node that was ready as a follower may lead later; never two
	// serving at once.
	if leaders > 1 {
		t.Errorf("%d nodes ready as the serving leader", leaders)
	}
}
