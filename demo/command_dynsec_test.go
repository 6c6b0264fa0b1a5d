package demo

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoCommandDynsecMode runs `triad demo --mode dynsec`: every node
// answers GET /ready, HAProxy (no triad-lbagent) routes to all three,
// demo.json says the mode and names HAProxy's address, an MQTT client
// gets through it, the guide says sessions are local, and SIGINT stops
// everything with exit status 0.
func TestDemoCommandDynsecMode(t *testing.T) {
	bin := triadBinary(t)
	haproxyBinary(t)
	base, err := FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := NewLayout(dir, base, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "demo", "--mode", "dynsec", "--dir", dir, "--base-port", strconv.Itoa(base), "--cluster", "e2e")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			if err := cmd.Process.Kill(); err != nil {
				t.Logf("kill triad demo: %v", err)
			}
			<-done
		}
		if t.Failed() {
			t.Logf("triad demo stdout:\n%s\nstderr:\n%s", &out, &errOut)
		}
		checkLogs(t, l)
	})
	waitFor(t, 90*time.Second, "the guide", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("triad demo exited early: %v", err)
		default:
		}
		return strings.Contains(out.String(), "Stop: Ctrl-C")
	})
	for _, want := range []string{"cluster.mode dynsec", "Every node serves MQTT", "without its session"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the guide does not say %q:\n%s", want, &out)
		}
	}
	m, err := ReadManifest(l.ManifestPath())
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode != "dynsec" || m.MQTT != l.Proxy.MQTTAddr || m.HAProxyPID == 0 || m.LBAgentPID != 0 {
		t.Fatalf("demo.json: mode %q mqtt %q haproxy pid %d lbagent pid %d; want dynsec, HAProxy's %s, haproxy running, no agent",
			m.Mode, m.MQTT, m.HAProxyPID, m.LBAgentPID, l.Proxy.MQTTAddr)
	}
	for _, n := range l.Nodes {
		waitFor(t, 20*time.Second, n.Name+" GET /ready 200", func() bool {
			return httpStatus("http://"+n.HTTPAddr+"/ready") == http.StatusOK
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ProbeMQTT(ctx, m.MQTT); err != nil {
		t.Fatalf("MQTT through HAProxy at %s: %v", m.MQTT, err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("triad demo after SIGINT: %v, want exit status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("triad demo still running 30s after SIGINT")
	}
}
