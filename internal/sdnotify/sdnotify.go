// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) without libsystemd: each notification is one datagram of
// newline-separated KEY=VALUE assignments sent to the unix socket named
// by $NOTIFY_SOCKET ("@name" is an abstract socket). Outside systemd the
// variable is unset and every call is a no-op.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The assignments Triad sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Status is the STATUS= assignment: a line systemctl status shows.
func Status(s string) string { return "STATUS=" + strings.ReplaceAll(s, "\n", " ") }

// Notifier sends notifications to one socket. The zero value and nil are
// valid and send nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv returns the notifier $NOTIFY_SOCKET names, or nil when it is
// unset (not started by systemd with Type=notify).
func FromEnv() *Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // the abstract namespace, as systemd spells it
	}
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Send sends the assignments as one notification.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil || n.addr == nil || len(assignments) == 0 {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(assignments, "\n"))); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// WatchdogInterval is the watchdog timeout systemd set for this process
// (WatchdogSec=, passed as $WATCHDOG_USEC, and $WATCHDOG_PID if set must be
// this process): WATCHDOG=1 must be sent more often than that. ok is false
// when there is no watchdog; an error names a malformed variable.
func WatchdogInterval() (d time.Duration, ok bool, err error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, false, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false, nil // meant for another process (our parent, say)
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, false, errors.Join(fmt.Errorf("sdnotify: WATCHDOG_USEC=%q is not a positive number of microseconds", usec), err)
	}
	return time.Duration(n) * time.Microsecond, true, nil
}
