package lbagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Runtime is a client of HAProxy's Runtime API (the "stats socket" of the
// global section). It sends one command per connection, in HAProxy's
// non-interactive mode: HAProxy answers and closes the connection, so the
// end of the answer is the end of the stream and no framing is guessed.
//
// One connection per command, not a persistent "prompt" session, because
// the agent sends a handful of commands every few seconds (the cost of a
// unix-socket connect is negligible), and because a persistent connection
// outlives a reload: after `systemctl reload haproxy` the old process keeps
// serving an open CLI connection while it drains, so a long-lived session
// would read and change the state of a process that no longer takes new
// clients. A fresh connection always reaches the current process.
//
// A Runtime is safe for concurrent use; it holds no connection.
type Runtime struct {
	network string // "unix" or "tcp"
	address string
	timeout time.Duration
}

// DefaultRuntimeTimeout bounds one command when NewRuntime is given 0.
const DefaultRuntimeTimeout = 2 * time.Second

// maxResponse bounds what one answer may hold: `show stat` of a backend
// with a few servers is a few KiB; anything near this is not an answer to
// the commands the agent sends.
const maxResponse = 4 << 20

// NewRuntime returns a client of the Runtime API at socket, which is
// written as in haproxy.cfg: a unix socket path ("/run/haproxy/admin.sock",
// or "unix@/run/haproxy/admin.sock") or a TCP address
// ("ipv4@127.0.0.1:9999", "ipv6@[::1]:9999", "127.0.0.1:9999"). timeout
// bounds each command from dial to the last byte read (0: 2s).
func NewRuntime(socket string, timeout time.Duration) (*Runtime, error) {
	network, address, err := ParseSocket(socket)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultRuntimeTimeout
	}
	return &Runtime{network: network, address: address, timeout: timeout}, nil
}

// ParseSocket splits a Runtime API address (see NewRuntime) into a network
// ("unix" or "tcp") and an address for net.Dial.
func ParseSocket(socket string) (network, address string, err error) {
	s := strings.TrimSpace(socket)
	switch {
	case s == "":
		return "", "", fmt.Errorf("haproxy socket: empty address: give a unix socket path or ipv4@host:port")
	case strings.HasPrefix(s, "unix@"):
		if p := strings.TrimPrefix(s, "unix@"); p != "" {
			return "unix", p, nil
		}
	case strings.HasPrefix(s, "ipv4@"), strings.HasPrefix(s, "ipv6@"), strings.HasPrefix(s, "tcp@"):
		_, hp, _ := strings.Cut(s, "@")
		if isDialable(hp) {
			return "tcp", hp, nil
		}
	case strings.Contains(s, "@"):
	case strings.ContainsRune(s, '/'):
		return "unix", s, nil
	case isDialable(s):
		return "tcp", s, nil
	}
	return "", "", fmt.Errorf("haproxy socket %q: not a unix socket path (/run/haproxy/admin.sock, unix@PATH) nor a TCP address (ipv4@HOST:PORT, ipv6@[HOST]:PORT)", socket)
}

func isDialable(hostPort string) bool {
	host, port, err := net.SplitHostPort(hostPort)
	return err == nil && host != "" && port != "" && port != "0"
}

// String names the socket as the errors do, e.g. "unix:/run/haproxy/admin.sock".
func (r *Runtime) String() string { return r.network + ":" + r.address }

// Errors a command can end with, matched with errors.Is on a *CommandError.
var (
	// ErrNoSuchBackend: the backend (proxy) named in the command does not exist.
	ErrNoSuchBackend = errors.New("no such backend")
	// ErrNoSuchServer: the backend exists but has no such server.
	ErrNoSuchServer = errors.New("no such server")
	// ErrPermission: the socket's level (user, operator) does not allow the
	// command; the agent needs "level admin".
	ErrPermission = errors.New("permission denied")
	// ErrUnknownCommand: this HAProxy does not know the command.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrRejected: any other text where the command expects none, or an
	// answer that does not parse.
	ErrRejected = errors.New("rejected")
)

// CommandError is a command HAProxy answered with an error. HAProxy has no
// status codes on this socket: errors are free text, so Kind classifies
// the text HAProxy 2.x sends (ErrNoSuchBackend, ...) and Response keeps it.
type CommandError struct {
	Socket   string // e.g. "unix:/run/haproxy/admin.sock"
	Command  string // the command as sent, without the newline
	Response string // HAProxy's answer, trimmed
	Kind     error  // one of the Err* values above
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("haproxy %s: %q: %s", e.Socket, e.Command, clip(e.Response, 200))
}

// Unwrap returns Kind, so errors.Is(err, ErrNoSuchServer) works.
func (e *CommandError) Unwrap() error { return e.Kind }

// classify maps HAProxy's error text to a Kind. It is only called on text
// already known to be an error.
func classify(resp string) error {
	first, _, _ := strings.Cut(resp, "\n")
	switch l := strings.ToLower(first); {
	case strings.Contains(l, "no such server"):
		return ErrNoSuchServer
	case strings.Contains(l, "no such backend"), strings.Contains(l, "can't find backend"),
		strings.Contains(l, "no such proxy"):
		return ErrNoSuchBackend
	case strings.Contains(l, "permission denied"):
		return ErrPermission
	case strings.HasPrefix(l, "unknown command"):
		return ErrUnknownCommand
	}
	return ErrRejected
}

// Do sends one command and returns HAProxy's whole answer with the
// trailing blank line removed. It does not judge the answer: a command
// HAProxy refused returns its error text and a nil error. Use the typed
// methods, which do.
//
// The command is bounded by the Runtime's timeout and by ctx: cancelling
// ctx closes the connection, and Do returns an error wrapping ctx's.
// cmd must be one line; commands are never joined with ";" here, so that
// each answer belongs to one command.
func (r *Runtime) Do(ctx context.Context, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("haproxy %s: command %q spans several lines", r, cmd)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	budget := r.timeout
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl))
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, r.network, r.address)
	if err != nil {
		return "", fmt.Errorf("haproxy %s: %q: connect: %w", r, cmd, err)
	}
	defer conn.Close() // read-only use after the write: nothing to flush
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return "", fmt.Errorf("haproxy %s: %q: set deadline: %w", r, cmd, err)
		}
	}
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", r.ioError(ctx, cmd, "send", err, budget)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(conn, maxResponse+1))
	if err != nil {
		return "", r.ioError(ctx, cmd, "read answer", err, budget)
	}
	if n > maxResponse {
		return "", fmt.Errorf("haproxy %s: %q: answer longer than %d bytes", r, cmd, maxResponse)
	}
	return strings.TrimRight(buf.String(), "\n"), nil
}

// ioError explains a failed send or read, naming the time allowed when
// the deadline was what ended it (the connection's deadline and ctx's
// are the same instant; either may be seen first). A timeout wraps both
// context.DeadlineExceeded and the I/O error.
func (r *Runtime) ioError(ctx context.Context, cmd, what string, err error, budget time.Duration) error {
	ce := ctx.Err()
	switch {
	case errors.Is(ce, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("haproxy %s: %q: %s: no answer within %v: %w: %w", r, cmd, what,
			budget.Round(time.Millisecond), context.DeadlineExceeded, err)
	case ce != nil:
		return fmt.Errorf("haproxy %s: %q: %s: %w", r, cmd, what, ce)
	}
	return fmt.Errorf("haproxy %s: %q: %s: %w", r, cmd, what, err)
}

// exec sends a command that answers nothing on success (set server,
// shutdown sessions): any text is HAProxy's error.
func (r *Runtime) exec(ctx context.Context, cmd string) error {
	resp, err := r.Do(ctx, cmd)
	if err != nil {
		return err
	}
	if resp = strings.TrimSpace(resp); resp != "" {
		return &CommandError{Socket: r.String(), Command: cmd, Response: resp, Kind: classify(resp)}
	}
	return nil
}

// nameRE is what HAProxy accepts in proxy and server names: letters,
// digits, '-', '_', '.' and ':'. Checking it keeps a name from carrying a
// second command (';'), a space or an escape into the command line.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,127}$`)

// CheckName reports a backend or server name HAProxy would not accept.
func CheckName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q: HAProxy names are 1 to 127 characters from A-Z a-z 0-9 - _ . :", kind, name)
	}
	return nil
}

func checkServerRef(backend, server string) error {
	if err := CheckName("backend", backend); err != nil {
		return err
	}
	return CheckName("server", server)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
