package lbagent

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triadmq/triad/lbagent/haproxytest"
)

// A dump from HAProxy 2.6.12 (Debian 12): n1 checked and down, n2 in
// forced maint, n3 "disabled" in the config then set ready.
const stateDump = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
2 b 1 n1 127.0.0.1 0 0 1 1 5 8 2 0 6 0 0 0 - 1 - 0 0 - - 0
2 b 2 n2 127.0.0.1 0 1 1 1 1 1 0 0 0 0 0 0 - 2 - 0 0 - - 0
2 b 3 n3 127.0.0.1 2 4 1 1 2 1 0 0 8 0 0 0 - 3 - 0 0 - - 0

`

func shortDir(t *testing.T) string { return haproxytest.ShortDir(t) }

// fakeCLI serves HAProxy's line protocol on a unix socket: it reads one
// command line per connection, hands it to answer (which writes to the
// connection) and closes the connection. It returns the socket path and a
// function listing the commands received.
func fakeCLI(t *testing.T, answer func(cmd string, c net.Conn)) (string, func() []string) {
	t.Helper()
	sock := filepath.Join(shortDir(t), "admin.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	return sock, serveCLI(t, l, answer)
}

func serveCLI(t *testing.T, l net.Listener, answer func(cmd string, c net.Conn)) func() []string {
	var mu sync.Mutex
	var cmds []string
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = l.Close() // ends Accept
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				cmd := strings.TrimSuffix(line, "\n")
				mu.Lock()
				cmds = append(cmds, cmd)
				mu.Unlock()
				answer(cmd, c)
			})
		}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cmds...)
	}
}

func write(c net.Conn, s string) { _, _ = c.Write([]byte(s)) }

func TestRuntimeLineProtocol(t *testing.T) {
	sock, cmds := fakeCLI(t, func(cmd string, c net.Conn) {
		switch cmd {
		case "show servers state b":
			write(c, stateDump)
		case "show version":
			write(c, "2.6.12\n\n")
		default:
			write(c, "\n") // a successful set/shutdown answers an empty line
		}
	})
	rt, err := NewRuntime(sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	out, err := rt.Do(ctx, "show version")
	if err != nil || out != "2.6.12" {
		t.Fatalf("Do(show version) = %q, %v; want \"2.6.12\"", out, err)
	}
	got, err := rt.ServersState(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name  string
		op    OpState
		flags AdminFlags
		admin Admin
	}{
		{"n1", OpStopped, 0, AdminReady},
		{"n2", OpStopped, AdminForcedMaint, AdminMaint},
		{"n3", OpRunning, AdminConfigMaint, AdminReady},
	}
	if len(got) != len(want) {
		t.Fatalf("ServersState = %+v; want %d servers", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Op != w.op || g.AdminFlags != w.flags || g.Admin() != w.admin || g.Backend != "b" || g.ID != i+1 || g.Port != i+1 {
			t.Errorf("server %d = %+v (admin %s); want %s op %v flags %#x admin %s", i, g, g.Admin(), w.name, w.op, w.flags, w.admin)
		}
	}
	if err := rt.SetServerState(ctx, "b", "n2", AdminReady); err != nil {
		t.Fatal(err)
	}
	if err := rt.ShutdownSessions(ctx, "b", "n1"); err != nil {
		t.Fatal(err)
	}
	wantCmds := []string{"show version", "show servers state b", "set server b/n2 state ready", "shutdown sessions server b/n1"}
	if g := cmds(); strings.Join(g, "|") != strings.Join(wantCmds, "|") {
		t.Errorf("commands sent = %q; want %q", g, wantCmds)
	}
}

func TestRuntimeErrors(t *testing.T) {
	answers := map[string]string{
		"set server b/nx state ready":   "No such server.\n\n",
		"set server nob/n1 state maint": "No such backend.\n\n",
		"shutdown sessions server b/n1": "Permission denied\n\n",
		"show servers state nob":        "Can't find backend.\n\n",
		"show servers state odd":        "something else entirely\n\n",
		"show stat nob 4 -1":            "No such proxy.\n\n",
		"set server b/n1 state drain":   "Unknown command, but maybe one of the following ones is a better match:\n  add acl\n\n",
	}
	sock, _ := fakeCLI(t, func(cmd string, c net.Conn) { write(c, answers[cmd]) })
	rt, err := NewRuntime(sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func() error
		cmd  string
		kind error
	}{
		{"no such server", func() error { return rt.SetServerState(ctx, "b", "nx", AdminReady) }, "set server b/nx state ready", ErrNoSuchServer},
		{"no such backend", func() error { return rt.SetServerState(ctx, "nob", "n1", AdminMaint) }, "set server nob/n1 state maint", ErrNoSuchBackend},
		{"permission", func() error { return rt.ShutdownSessions(ctx, "b", "n1") }, "shutdown sessions server b/n1", ErrPermission},
		{"unknown command", func() error { return rt.SetServerState(ctx, "b", "n1", AdminDrain) }, "set server b/n1 state drain", ErrUnknownCommand},
		{"show unknown backend", func() error { _, err := rt.ServersState(ctx, "nob"); return err }, "show servers state nob", ErrNoSuchBackend},
		{"show garbage", func() error { _, err := rt.ServersState(ctx, "odd"); return err }, "show servers state odd", ErrRejected},
		{"stat unknown backend", func() error { _, err := rt.ServerStats(ctx, "nob"); return err }, "show stat nob 4 -1", ErrNoSuchBackend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			var ce *CommandError
			if !errors.As(err, &ce) || !errors.Is(err, tc.kind) {
				t.Fatalf("error = %v; want a *CommandError of kind %v", err, tc.kind)
			}
			if ce.Command != tc.cmd || !strings.Contains(err.Error(), tc.cmd) || !strings.Contains(err.Error(), sock) {
				t.Errorf("error %q does not name the command %q and the socket", err, tc.cmd)
			}
		})
	}
}

func TestRuntimeRefusesBadNames(t *testing.T) {
	sock, cmds := fakeCLI(t, func(string, net.Conn) {})
	rt, err := NewRuntime(sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, bad := range []struct{ backend, server string }{
		{"b", "n1;shutdown sessions server b/n2"}, {"b c", "n1"}, {"b", ""}, {"", "n1"}, {"b", "n1\nquit"},
	} {
		if err := rt.SetServerState(ctx, bad.backend, bad.server, AdminMaint); err == nil || !strings.Contains(err.Error(), "name") {
			t.Errorf("SetServerState(%q, %q) = %v; want a name error", bad.backend, bad.server, err)
		}
	}
	if err := rt.SetServerState(ctx, "b", "n1", "down"); err == nil || !strings.Contains(err.Error(), `"down"`) {
		t.Errorf("SetServerState(state down) = %v; want an error naming it", err)
	}
	if _, err := rt.Do(ctx, "show info\nshow stat"); err == nil {
		t.Error("Do accepted a two-line command")
	}
	if n := len(cmds()); n != 0 {
		t.Errorf("%d commands reached the socket; want none", n)
	}
}

func TestRuntimeTimeouts(t *testing.T) {
	release := make(chan struct{})
	sock, _ := fakeCLI(t, func(cmd string, c net.Conn) {
		if cmd == "show servers state slow" {
			write(c, "1\n# be_id") // a partial answer, then silence
		}
		<-release
	})
	t.Cleanup(func() { close(release) }) // before fakeCLI's cleanup waits for its handlers
	t.Run("read", func(t *testing.T) {
		rt, err := NewRuntime(sock, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = rt.ServersState(context.Background(), "slow")
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 200ms") {
			t.Fatalf("error = %v; want a timeout naming 200ms", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v; want about 200ms", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		rt, err := NewRuntime(sock, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err = rt.Do(ctx, "show info")
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v; want context.Canceled", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v after cancel; want about 100ms", d)
		}
	})
	t.Run("dial", func(t *testing.T) {
		rt, err := NewRuntime(filepath.Join(shortDir(t), "none.sock"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = rt.Do(context.Background(), "show info")
		if err == nil || !strings.Contains(err.Error(), "connect") || !strings.Contains(err.Error(), "none.sock") {
			t.Fatalf("error = %v; want a connect error naming the socket", err)
		}
	})
}

func TestRuntimeOversizedAnswer(t *testing.T) {
	sock, _ := fakeCLI(t, func(_ string, c net.Conn) {
		chunk := strings.Repeat("x", 64<<10)
		for range maxResponse/len(chunk) + 2 {
			if _, err := c.Write([]byte(chunk)); err != nil {
				return
			}
		}
	})
	rt, err := NewRuntime(sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Do(context.Background(), "show stat"); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("error = %v; want an answer-too-long error", err)
	}
}

func TestRuntimeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCLI(t, l, func(cmd string, c net.Conn) { write(c, "echo "+cmd+"\n\n") })
	rt, err := NewRuntime("ipv4@"+l.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := rt.Do(context.Background(), "show info"); err != nil || out != "echo show info" {
		t.Fatalf("Do over TCP = %q, %v", out, err)
	}
}

func TestParseSocket(t *testing.T) {
	for _, tc := range []struct{ in, network, address string }{
		{"/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock"},
		{"unix@/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock"},
		{"run/admin.sock", "unix", "run/admin.sock"},
		{"ipv4@127.0.0.1:9999", "tcp", "127.0.0.1:9999"},
		{"ipv6@[::1]:9999", "tcp", "[::1]:9999"},
		{"127.0.0.1:9999", "tcp", "127.0.0.1:9999"},
		{"", "", ""},
		{"unix@", "", ""},
		{"ipv4@127.0.0.1", "", ""},
		{"ipv4@127.0.0.1:0", "", ""},
		{"udp@127.0.0.1:1", "", ""},
		{"admin.sock", "", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			n, a, err := ParseSocket(tc.in)
			if tc.network == "" {
				if err == nil || !strings.Contains(err.Error(), "socket") {
					t.Fatalf("ParseSocket(%q) = %q, %q, %v; want an error", tc.in, n, a, err)
				}
				return
			}
			if err != nil || n != tc.network || a != tc.address {
				t.Fatalf("ParseSocket(%q) = %q, %q, %v; want %q, %q", tc.in, n, a, err, tc.network, tc.address)
			}
		})
	}
}

func TestParseServersStateRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "version 1"},
		{"version 2", "2\n# be_id\n", "version 1"},
		{"no header", "1\n2 b 1 n1\n", "header"},
		{"missing column", "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state\n", "srv_admin_state"},
		{"bad number", "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n2 b 1 n1 1.2.3.4 x 0\n", "srv_op_state"},
		{"short row", "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n2 b 1\n", "line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseServersState(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseServersState = %v; want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	in := "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,type,\n" +
		"b,BACKEND,0,0,7,9,,0,UP,1,\n" +
		"b,n1,0,0,5,6,,0,UP,2,\n" +
		"b,n2,0,0,2,2,,0,MAINT,2,\n" +
		"b,n3,0,0,0,0,,0,no check,2,\n\n"
	got, err := parseStat(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []ServerStat{{"n1", 5, "UP"}, {"n2", 2, "MAINT"}, {"n3", 0, "no check"}}
	if len(got) != len(want) {
		t.Fatalf("parseStat = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseStat("No such proxy."); err == nil {
		t.Error("parseStat accepted an error text")
	}
}
