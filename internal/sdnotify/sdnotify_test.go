package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listen makes a unixgram socket for the notifier to send to, as systemd
// does, and points NOTIFY_SOCKET at it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	n := FromEnv()
	if err := n.Send(Ready, Status("leader\nof epoch 7")); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1\nSTATUS=leader of epoch 7" {
		t.Fatalf("datagram %q", got)
	}
}

func TestSendAbstractSocket(t *testing.T) {
	name := "triad-sdnotify-test-" + strconv.Itoa(os.Getpid())
	conn := listen(t, "\x00"+name)
	t.Setenv("NOTIFY_SOCKET", "@"+name)
	if err := FromEnv().Send(Watchdog); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "WATCHDOG=1" {
		t.Fatalf("datagram %q", got)
	}
}

func TestOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if n := FromEnv(); n != nil {
		t.Fatal("a notifier without NOTIFY_SOCKET")
	}
	var n *Notifier
	if err := n.Send(Ready); err != nil {
		t.Fatalf("nil notifier: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	if err := FromEnv().Send(Ready); err == nil {
		t.Fatal("sending to a missing socket succeeded")
	}
}

func TestWatchdogInterval(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, c := range []struct {
		usec, pid string
		want      time.Duration
		ok, err   bool
	}{
		{"", "", 0, false, false},
		{"30000000", "", 30 * time.Second, true, false},
		{"30000000", me, 30 * time.Second, true, false},
		{"30000000", "1", 0, false, false},
		{"abc", "", 0, false, true},
		{"0", "", 0, false, true},
	} {
		t.Setenv("WATCHDOG_USEC", c.usec)
		t.Setenv("WATCHDOG_PID", c.pid)
		d, ok, err := WatchdogInterval()
		if d != c.want || ok != c.ok || (err != nil) != c.err {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v %v %v; want %v %v err=%v", c.usec, c.pid, d, ok, err, c.want, c.ok, c.err)
		}
	}
}
