package lbagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triadmq/triad/lbagent/haproxytest"
)

// haproxyProc is a real haproxy (haproxytest) and a Runtime client of it.
type haproxyProc struct {
	*haproxytest.Proc
	t  *testing.T
	rt *Runtime
}

func startHAProxy(t *testing.T, backend string, servers []haproxytest.Server, withFrontend bool) *haproxyProc {
	t.Helper()
	p := haproxytest.Start(t, haproxytest.Options{Backend: backend, Servers: servers, Frontend: withFrontend})
	return wrapHAProxy(t, p)
}

func wrapHAProxy(t *testing.T, p *haproxytest.Proc) *haproxyProc {
	t.Helper()
	rt, err := NewRuntime(p.Sock, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &haproxyProc{Proc: p, t: t, rt: rt}
}

var servers = haproxytest.Servers

// admins returns each server's admin state, e.g. "n1=maint n2=ready".
func (h *haproxyProc) admins(backend string) (string, error) {
	states, err := h.rt.ServersState(context.Background(), backend)
	if err != nil {
		return "", err
	}
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = s.Name + "=" + string(s.Admin())
	}
	return strings.Join(parts, " "), nil
}

// waitAdmins polls until admins(backend) is want.
func (h *haproxyProc) waitAdmins(backend, want string, within time.Duration) {
	h.t.Helper()
	var got string
	var err error
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got, err = h.admins(backend); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	h.t.Fatalf("haproxy servers: %q (err %v); want %q within %v", got, err, want, within)
}

func freeAddr(t *testing.T) string { return haproxytest.FreeAddr(t) }

// TestRuntimeAgainstHAProxy drives a real haproxy through every command
// the agent uses.
func TestRuntimeAgainstHAProxy(t *testing.T) {
	// n1 is a real TCP server, so a client can hold a session through it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	defer held.Wait()
	defer l.Close()
	held.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held.Go(func() {
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, _ = c.Read(make([]byte, 1)) // hold until closed
			})
		}
	})
	h := startHAProxy(t, "b", []haproxytest.Server{{Name: "n1", Addr: l.Addr().String()}, {Name: "n2"}, {Name: "n3"}}, true)
	ctx := context.Background()
	rt := h.rt

	if got, err := h.admins("b"); err != nil || got != "n1=ready n2=ready n3=ready" {
		t.Fatalf("fresh haproxy: %q, %v", got, err)
	}
	for _, step := range []struct {
		server string
		state  Admin
		want   string
	}{
		{"n2", AdminMaint, "n1=ready n2=maint n3=ready"},
		{"n3", AdminDrain, "n1=ready n2=maint n3=drain"},
		{"n3", AdminMaint, "n1=ready n2=maint n3=maint"},
		{"n2", AdminReady, "n1=ready n2=ready n3=maint"},
	} {
		if err := rt.SetServerState(ctx, "b", step.server, step.state); err != nil {
			t.Fatalf("set %s %s: %v", step.server, step.state, err)
		}
		if got, err := h.admins("b"); err != nil || got != step.want {
			t.Fatalf("after set %s %s: %q, %v; want %q", step.server, step.state, got, err, step.want)
		}
	}
	states, err := rt.ServersState(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if s := states[2]; s.AdminFlags&AdminForcedMaint == 0 || s.Op != OpStopped || s.Backend != "b" || s.Addr != "127.0.0.1" {
		t.Errorf("n3 = %+v; want forced maint, down", s)
	}

	// A client session through n1, then shut down.
	if err := rt.SetServerState(ctx, "b", "n2", AdminMaint); err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("tcp", h.Frontend)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	waitSessions(t, rt, "b", "n1", 1)
	if err := rt.SetServerState(ctx, "b", "n1", AdminMaint); err != nil {
		t.Fatal(err)
	}
	if err := rt.ShutdownSessions(ctx, "b", "n1"); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := client.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("client read after shutdown sessions = %d, %v; want the connection closed", n, err)
	}
	waitSessions(t, rt, "b", "n1", 0)

	// HAProxy's own error texts come back as typed errors naming the command.
	for _, tc := range []struct {
		err  error
		kind error
		cmd  string
	}{
		{rt.SetServerState(ctx, "b", "n9", AdminReady), ErrNoSuchServer, "set server b/n9 state ready"},
		{rt.SetServerState(ctx, "nob", "n1", AdminReady), ErrNoSuchBackend, "set server nob/n1 state ready"},
		{rt.ShutdownSessions(ctx, "b", "n9"), ErrNoSuchServer, "shutdown sessions server b/n9"},
		{second(rt.ServersState(ctx, "nob")), ErrNoSuchBackend, "show servers state nob"},
		{second(rt.ServerStats(ctx, "nob")), ErrNoSuchBackend, "show stat nob 4 -1"},
	} {
		if !errors.Is(tc.err, tc.kind) || !strings.Contains(fmt.Sprint(tc.err), tc.cmd) {
			t.Errorf("%s: error %v; want %v naming the command", tc.cmd, tc.err, tc.kind)
		}
	}
	if resp, err := rt.Do(ctx, "set server b/n1 state sideways"); err != nil || !strings.Contains(resp, "expects 'ready', 'drain' and 'maint'") {
		t.Errorf("raw bad state: %q, %v", resp, err)
	}
}

func second[T any](_ T, err error) error { return err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func waitSessions(t *testing.T, rt *Runtime, backend, server string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last []ServerStat
	for time.Now().Before(deadline) {
		stats, err := rt.ServerStats(context.Background(), backend)
		if err != nil {
			t.Fatal(err)
		}
		last = stats
		for _, s := range stats {
			if s.Name == server && s.Sessions == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	t.Fatalf("server %s/%s: stats %+v; want %d sessions", backend, server, last, want)
}
