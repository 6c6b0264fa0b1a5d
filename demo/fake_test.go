package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/lbagent"
)

// The supervisor tests run this test binary as a fake `triad run`: it
// loads the config, serves GET /health and GET /leader on http.address,
// answers an MQTT CONNECT on its listener with an accepting CONNACK while
// it leads (else closes the connection), and exits 0 on SIGTERM or
// SIGINT. Run with a config named lbagent.yaml it is a fake
// `triad-lbagent run`: it loads the config and waits for SIGTERM. Environment:
const (
	envFake        = "TRIAD_DEMO_FAKE"                // "1": be a fake triad
	envLeaderFile  = "TRIAD_DEMO_FAKE_LEADER_FILE"    // file holding the leader's name, read on each GET /leader; "-": no /leader
	envExitAtStart = "TRIAD_DEMO_FAKE_EXIT"           // comma-separated nodes that exit 3 at once
	envIgnoreTerm  = "TRIAD_DEMO_FAKE_IGNORE_SIGTERM" // "1": ignore SIGTERM
)

func TestMain(m *testing.M) {
	if os.Getenv(envFake) == "1" {
		os.Exit(fakeTriad(os.Args[1:]))
	}
	code := m.Run()
	cleanupBuild()
	os.Exit(code)
}

func fakeTriad(args []string) int {
	if len(args) != 3 || args[0] != "run" || args[1] != "--config" {
		fmt.Fprintf(os.Stderr, "fake triad: unexpected arguments %q\n", args)
		return 2
	}
	if filepath.Base(args[2]) == "lbagent.yaml" {
		return fakeAgent(args[2])
	}
	cfg, err := config.Load(args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake triad: %v\n", err)
		return 1
	}
	name := cfg.Node.Name
	if slices.Contains(strings.Split(os.Getenv(envExitAtStart), ","), name) {
		fmt.Fprintf(os.Stderr, "fake triad %s: failing on purpose\n", name)
		return 3
	}
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if os.Getenv(envIgnoreTerm) == "1" {
		signal.Ignore(syscall.SIGTERM)
		sigs = sigs[:1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	lf := os.Getenv(envLeaderFile)
	leads := func() bool {
		b, err := os.ReadFile(lf)
		return lf == "-" || (err == nil && strings.TrimSpace(string(b)) == name)
	}
	if lf != "-" {
		mux.HandleFunc("GET /leader", func(w http.ResponseWriter, r *http.Request) {
			if !leads() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
	}
	if len(cfg.MQTT.Listeners) > 0 {
		ml, err := net.Listen("tcp", cfg.MQTT.Listeners[0].Address)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fake triad %s: %v\n", name, err)
			return 1
		}
		defer ml.Close()
		go fakeMQTT(ml, leads)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake triad %s: %v\n", name, err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "fake triad %s: %v\n", name, err)
		}
	}()
	fmt.Printf("fake triad %s serving on %s\n", name, ln.Addr())
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "fake triad %s: %v\n", name, err)
	}
	return 0
}

// fakeMQTT accepts connections on l until it is closed: while leads(),
// it answers the first read (a CONNECT) with an accepting CONNACK and
// keeps the connection until the client closes it; otherwise it closes
// the connection at once.
func fakeMQTT(l net.Listener, leads func() bool) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if !leads() || c.SetReadDeadline(time.Now().Add(5*time.Second)) != nil {
				return
			}
			buf := make([]byte, 512)
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write([]byte{0x20, 2, 0, 0}); err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c) // until DISCONNECT and close, or the deadline
		}()
	}
}

// fakeAgent is a fake `triad-lbagent run`: it checks its config and waits
// for SIGTERM or SIGINT.
func fakeAgent(path string) int {
	if _, err := lbagent.LoadConfig(path); err != nil {
		fmt.Fprintf(os.Stderr, "fake triad-lbagent: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Println("fake triad-lbagent running")
	<-ctx.Done()
	return 0
}

// fakeCluster plans a demo in a temp dir on free ports for fake nodes
// whose leader is read from the returned file.
func fakeCluster(t *testing.T) (l *Layout, leaderFile string) {
	t.Helper()
	base, err := FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err = Plan(t.TempDir(), base, "fake")
	if err != nil {
		t.Fatal(err)
	}
	leaderFile = filepath.Join(l.Dir, "leader")
	t.Setenv(envFake, "1")
	t.Setenv(envLeaderFile, leaderFile)
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	return l, leaderFile
}

func testBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func setLeader(t *testing.T, file, name string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger returns a logger writing to buf, which goes to t.Log if the
// test fails.
func testLogger(t *testing.T, buf *syncBuffer) *slog.Logger {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo log:\n%s", buf)
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond every 20ms until it holds or timeout passes.
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

// alive reports whether a process with pid exists (zombies included).
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
