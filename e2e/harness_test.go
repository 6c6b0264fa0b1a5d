package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// triadBin and triadctlBin are the binaries built by TestMain.
var triadBin, triadctlBin string

// triadNextBin and triadFarBin are triad built to speak another
// replication protocol (node.protocolOverride): "next" one version newer
// than this release (and still supporting it), "far" too new to replicate
// with it.
var triadNextBin, triadFarBin string

const (
	nextProtocol = "3:2"
	farProtocol  = "5:4"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "triad-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	triadBin, triadctlBin = filepath.Join(dir, "triad"), filepath.Join(dir, "triadctl")
	build := exec.Command("go", "build", "-race", "-o", dir+string(filepath.Separator),
		"github.com/triadmq/triad/cmd/triad", "github.com/triadmq/triad/cmd/triadctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build triad and triadctl:", err)
		os.Exit(1)
	}
	triadNextBin, triadFarBin = filepath.Join(dir, "triad-next"), filepath.Join(dir, "triad-far")
	for bin, protocol := range map[string]string{triadNextBin: nextProtocol, triadFarBin: farProtocol} {
		build := exec.Command("go", "build", "-race", "-o", bin,
			"-ldflags", "-X github.com/triadmq/triad/node.protocolOverride="+protocol, "github.com/triadmq/triad/cmd/triad")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build triad speaking replication protocol %s: %v\n", protocol, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond every 20ms until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// node is one triad process under test, restartable on the same data.
type node struct {
	t        *testing.T
	dir      string
	cfgPath  string
	mqttAddr string
	httpAddr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
	// races holds the output of every run in which the race detector
	// reported a data race (the binary is built with -race).
	races []string
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

// newNode writes a config with a TCP listener (and any extra YAML under
// mqtt:, given indented by 2) for a node in a temp dir.
func newNode(t *testing.T, extraYAML string) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{
		t:        t,
		dir:      dir,
		cfgPath:  filepath.Join(dir, "triad.yaml"),
		mqttAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	cfg := fmt.Sprintf(`node:
  name: e2e
  data_dir: %s
mqtt:
  listeners:
    - type: tcp
      address: %s
%s
http:
  address: %s
log:
  level: debug
`, filepath.Join(dir, "data"), n.mqttAddr, extraYAML, n.httpAddr)
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.kill()
		n.mu.Lock()
		races := n.races
		n.mu.Unlock()
		for _, text := range races {
			t.Errorf("the race detector reported a data race in triad:\n%s", text)
		}
		if t.Failed() && len(races) == 0 {
			t.Logf("triad output:\n%s", n.output())
		}
		keepOnFailure(t, n.dir)
	})
	return n
}

// start runs triad and waits until /health answers 200.
func (n *node) start() {
	n.t.Helper()
	n.mu.Lock()
	cmd := exec.Command(triadBin, "run", "--config", n.cfgPath)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		n.t.Fatalf("start triad: %v", err)
	}
	done := make(chan struct{})
	n.cmd, n.out, n.done = cmd, out, done
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.err = err
		if text := out.String(); strings.Contains(text, "WARNING: DATA RACE") {
			n.races = append(n.races, text)
		}
		n.mu.Unlock()
		close(done)
	}()
	n.mu.Unlock()
	waitFor(n.t, 30*time.Second, "triad /health", func() bool {
		select {
		case <-done:
			n.t.Fatalf("triad exited during start: %v\n%s", n.exitErr(), out.String())
		default:
		}
		resp, err := http.Get("http://" + n.httpAddr + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (n *node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

func (n *node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		if err := cmd.Process.Signal(sig); err != nil && !strings.Contains(err.Error(), "finished") {
			n.t.Logf("signal %v: %v", sig, err)
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.signal(syscall.SIGKILL)
	n.wait(10 * time.Second)
}

// wait waits for the process to exit and returns its error (nil: exit 0).
func (n *node) wait(timeout time.Duration) error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
	case <-time.After(timeout):
		n.t.Fatalf("triad did not exit within %v", timeout)
	}
	return n.exitErr()
}

func (n *node) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.out == nil {
		return ""
	}
	return n.out.String()
}
