package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
	"github.com/triadmq/triad/internal/etcdtest"
	"github.com/triadmq/triad/lbagent"
	"github.com/triadmq/triad/lbagent/haproxytest"
)

// TestMain lets a test run this binary's main: with TRIAD_LBAGENT_MAIN=1
// the test binary is triad-lbagent.
func TestMain(m *testing.M) {
	if os.Getenv("TRIAD_LBAGENT_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersionAndUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout, or in stderr when code != 0
	}{
		{[]string{"version"}, 0, "triad-lbagent dev\n"},
		{[]string{"help"}, 0, "triad-lbagent run --config FILE"},
		{nil, 2, "usage:"},
		{[]string{"serve"}, 2, `unknown command "serve"`},
		{[]string{"run", "--config"}, 2, "flag needs an argument"},
		{[]string{"check-config", "--config", "a.yaml", "extra"}, 2, `takes only --config FILE (got ["extra"])`},
		{[]string{"run", "--verbose"}, 2, "flag provided but not defined: -verbose"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(tc.args...)
			if tc.code != 0 {
				out = errOut
			}
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("exit %d, output %q; want %d with %q", code, out, tc.code, tc.out)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "cluster: prod\netcd:\n  endpoints: [\"http://10.0.0.1:2379\"]\n")
	code, out, errOut := runCmd("check-config", "--config", good)
	if code != 0 || !strings.Contains(out, good+": valid") || !strings.Contains(out, "reconcile_interval: 2s") || !strings.Contains(out, "backend: triad") {
		t.Fatalf("check-config good: exit %d\n%s%s", code, out, errOut)
	}
	bad := writeFile(t, dir, "bad.yaml", "cluster: prod\netcd:\n  endpoints: [\"http://10.0.0.1:2379\"]\nhaproxy:\n  sockt: /x\n")
	code, _, errOut = runCmd("check-config", "--config", bad)
	if code != 1 || !strings.Contains(errOut, bad+`:5: haproxy.sockt: unknown key (did you mean "socket"?)`) {
		t.Fatalf("check-config bad: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd("run", "--config", bad)
	if code != 1 || !strings.Contains(errOut, "haproxy.sockt") {
		t.Fatalf("run with a bad config: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd("check-config", "--config", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("check-config missing: exit %d, %q", code, errOut)
	}
}

// campaign writes a leader record as an election.Elector does.
func campaign(t *testing.T, c *clientv3.Client, keys election.Keys, node string) clientv3.LeaseID {
	t.Helper()
	ctx := etcdtest.Ctx(t)
	lease, err := c.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := json.Marshal(election.Leader{Node: node, Lease: int64(lease.ID), Since: time.Now().UTC(), Reason: "election"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(keys.Leader()), "=", 0)).
		Then(clientv3.OpPut(keys.Leader(), string(rec), clientv3.WithLease(lease.ID))).Commit()
	if err != nil || !resp.Succeeded {
		t.Fatalf("campaign %s: %v", node, err)
	}
	return lease.ID
}

func admins(t *testing.T, rt *lbagent.Runtime) string {
	states, err := rt.ServersState(context.Background(), "triad")
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, s := range states {
		parts = append(parts, s.Name+"="+string(s.Admin()))
	}
	return strings.Join(parts, " ")
}

func waitAdmins(t *testing.T, rt *lbagent.Runtime, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for admins(t, rt) != want {
		if time.Now().After(deadline) {
			t.Fatalf("haproxy servers %q; want %q", admins(t, rt), want)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// TestRunFollowsAndStopsOnSignal runs the real command (this test binary
// as triad-lbagent) against a real etcd and haproxy, then stops it with
// SIGTERM and SIGINT: it exits 0 at once and leaves HAProxy as it was.
func TestRunFollowsAndStopsOnSignal(t *testing.T) {
	srv := etcdtest.Start(t)
	h := haproxytest.Start(t, haproxytest.Options{Backend: "triad", Servers: haproxytest.Servers("n1", "n2", "n3")})
	rt, err := lbagent.NewRuntime(h.Sock, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	keys := election.NewKeys("clt")
	lease := campaign(t, srv.Client, keys, "n2")
	cfg := writeFile(t, t.TempDir(), "lbagent.yaml", fmt.Sprintf(`cluster: clt
etcd:
  endpoints: [%q]
haproxy:
  socket: %s
reconcile_interval: 200ms
log:
  format: json
`, srv.URL, h.Sock))

	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "run", "--config", cfg)
		cmd.Env = append(os.Environ(), "TRIAD_LBAGENT_MAIN=1")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() }) // if the test fails first; harmless after exit

		want := "n1=maint n2=ready n3=maint"
		if i == 1 {
			if _, err := srv.Client.Revoke(etcdtest.Ctx(t), lease); err != nil {
				t.Fatal(err)
			}
			campaign(t, srv.Client, keys, "n3")
			want = "n1=maint n2=maint n3=ready"
		}
		waitAdmins(t, rt, want)

		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("%v: exit %d; want 0\n%s", sig, code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: still running after 10s\n%s", sig, stderr.String())
		}
		logs := stderr.String()
		for _, line := range []string{`"msg":"server state changed"`, `"msg":"triad-lbagent stopped cleanly"`, `"version":"dev"`} {
			if !strings.Contains(logs, line) {
				t.Errorf("%v: log lacks %s:\n%s", sig, line, logs)
			}
		}
		if got := admins(t, rt); got != want {
			t.Errorf("%v: after exit haproxy has %q; want it left as %q", sig, got, want)
		}
	}
}
