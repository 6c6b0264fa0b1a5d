// Package haproxytest runs real haproxy processes for tests: a config in
// a temporary directory with an admin-level stats socket, one tcp backend
// of servers on 127.0.0.1 ports, optionally a frontend in front of it.
// The process runs in the foreground (-db) and is killed when the test
// ends.
package haproxytest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary returns the haproxy to run. It skips the test under -short and
// fails it when haproxy is not installed (scripts/deps.sh installs
// Debian's).
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a real haproxy")
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	const debian = "/usr/sbin/haproxy"
	if _, err := os.Stat(debian); err != nil {
		t.Fatalf("haproxy not installed (Debian package haproxy): %v", err)
	}
	return debian
}

// Server is one server line of the backend.
type Server struct {
	Name string
	Addr string // host:port; "": a free 127.0.0.1 port nobody listens on
}

// Servers returns servers of the given names on free ports.
func Servers(names ...string) []Server {
	out := make([]Server, len(names))
	for i, n := range names {
		out[i] = Server{Name: n}
	}
	return out
}

// Options describe the haproxy to run.
type Options struct {
	Backend  string
	Servers  []Server
	Frontend bool // a tcp frontend on a free port, in front of the backend
}

// Proc is a haproxy run by a test.
type Proc struct {
	Dir      string // its temporary directory
	Config   string // its config file
	Sock     string // its admin-level stats socket (unix)
	Frontend string // 127.0.0.1:port clients connect to; "" without one

	t   testing.TB
	bin string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *lockedBuffer
}

// Start writes a config for o and starts haproxy; it is killed when the
// test ends.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	p := &Proc{t: t, bin: Binary(t), Dir: ShortDir(t)}
	p.Sock = filepath.Join(p.Dir, "admin.sock")
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  stats socket %s level admin\n  stats timeout 10s\n", p.Sock)
	b.WriteString("defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1m\n  timeout server 1m\n")
	if o.Frontend {
		p.Frontend = FreeAddr(t)
		fmt.Fprintf(&b, "frontend mqtt\n  bind %s\n  default_backend %s\n", p.Frontend, o.Backend)
	}
	fmt.Fprintf(&b, "backend %s\n", o.Backend)
	for _, s := range o.Servers {
		addr := s.Addr
		if addr == "" {
			addr = FreeAddr(t)
		}
		fmt.Fprintf(&b, "  server %s %s\n", s.Name, addr)
	}
	p.Config = filepath.Join(p.Dir, "haproxy.cfg")
	if err := os.WriteFile(p.Config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	p.Start()
	return p
}

// StartConfig starts haproxy with the config file cfg, whose admin stats
// socket is sock; it is killed when the test ends.
func StartConfig(t testing.TB, cfg, sock string) *Proc {
	t.Helper()
	p := &Proc{t: t, bin: Binary(t), Dir: filepath.Dir(cfg), Config: cfg, Sock: sock}
	t.Cleanup(p.Kill)
	p.Start()
	return p
}

// Start runs haproxy (again) and waits until its socket answers.
func (p *Proc) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = os.Remove(p.Sock) // a killed haproxy leaves its socket file behind
	p.out = &lockedBuffer{}
	cmd := exec.Command(p.bin, "-f", p.Config, "-db")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start haproxy: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // its exit is what done reports
		close(done)
	}()
	p.cmd, p.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := p.Command("show info")
		if err == nil {
			return
		}
		select {
		case <-done:
			p.t.Fatalf("haproxy exited at start: %s", p.out)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("haproxy socket not answering after 10s: %v\n%s", err, p.out)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// Kill stops haproxy with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill() // it may have exited already
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("haproxy pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
	p.cmd = nil
}

// Restart kills haproxy and starts it again from its config: every runtime
// change is lost, as after a crash or a reload without a state file.
func (p *Proc) Restart() {
	p.t.Helper()
	p.Kill()
	p.Start()
}

// Output returns what haproxy printed since it was last started.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Command sends one command to the stats socket and returns the answer.
func (p *Proc) Command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", p.Sock, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(bufio.NewReader(c))
	return strings.TrimRight(string(out), "\n"), err
}

// ShortDir is a temporary directory with a path short enough for a unix
// socket (108 bytes), removed when the test ends.
func ShortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lba")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // best effort: a temp dir
	return dir
}

// FreeAddr returns a free 127.0.0.1 host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
