package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/demo"
)

func TestRaiseMaxconn(t *testing.T) {
	l, err := demo.NewLayout(t.TempDir(), 21883, demo.DefaultCluster)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := l.HAProxyConfig()
	if err != nil {
		t.Fatal(err)
	}
	out, err := raiseMaxconn(cfg, 41000)
	if err != nil {
		t.Fatal(err)
	}
	global, _, _ := strings.Cut(string(out), "\ndefaults")
	if !regexp.MustCompile(`(?m)^    maxconn 41000$`).MatchString(global) {
		t.Errorf("global section without maxconn 41000:\n%s", global)
	}
	_, frontend, _ := strings.Cut(string(out), "\nfrontend ")
	frontend, _, _ = strings.Cut(frontend, "\nbackend ")
	if !strings.Contains(frontend, "\n    maxconn 41000\n") {
		t.Errorf("frontend section without maxconn 41000:\n%s", frontend)
	}
	if n := strings.Count(string(out), "maxconn"); n != strings.Count(string(cfg), "maxconn")+1 {
		t.Errorf("%d maxconn lines, want one more than the %d before", n, strings.Count(string(cfg), "maxconn"))
	}
	if again, err := raiseMaxconn(out, 41000); err != nil || strings.Count(string(again), "maxconn 41000") != 3 {
		t.Errorf("raising twice: %v (a frontend line more each time is harmless, the last one wins)", err)
	}
	if _, err := raiseMaxconn([]byte("global\n    log stderr\nfrontend x\n"), 10); err == nil {
		t.Error("a config without maxconn: no error")
	}
}

func TestRank(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		sorted  []time.Duration
		n       int
		p       float64
		want    time.Duration
		reached bool
	}{
		{"all known, p99 of 100 is the 99th", ds(seq(100)...), 100, 99, 99 * time.Millisecond, true},
		{"all known, max", ds(1, 2, 3), 3, 100, 3 * time.Millisecond, true},
		{"p50 of 4", ds(1, 2, 3, 4), 4, 50, 2 * time.Millisecond, true},
		{"one of 100 missing: p99 still reached", ds(seq(99)...), 100, 99, 99 * time.Millisecond, true},
		{"one of 100 missing: max not reached", ds(seq(99)...), 100, 100, 99 * time.Millisecond, false},
		{"two of 100 missing: p99 not reached", ds(seq(98)...), 100, 99, 98 * time.Millisecond, false},
		{"none back", nil, 10, 50, 0, false},
		{"no clients", nil, 0, 99, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reached := rank(tc.sorted, tc.n, tc.p)
			if got != tc.want || reached != tc.reached {
				t.Errorf("rank(p%v of %d, %d known) = %v, %v; want %v, %v", tc.p, tc.n, len(tc.sorted), got, reached, tc.want, tc.reached)
			}
		})
	}
}

// seq is 1..n.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestWarning(t *testing.T) {
	for _, tc := range []struct {
		name, line, level, msg string
		ok                     bool
	}{
		{"slog warn", `time=2026-11-29T19:17:30.146Z level=WARN msg="stepping down" component=election epoch=32`, "WARN", "stepping down", true},
		{"slog error unquoted", `time=x level=ERROR msg=boom a=b`, "ERROR", "boom", true},
		{"slog info", `time=x level=INFO msg="state loaded" sessions=2000`, "", "", false},
		{"leadership", `time=x level=INFO msg="serving MQTT as leader" epoch=41 mqtt=map[]`, "INFO", leadershipMsg, true},
		{"etcd json warn", `{"level":"warn","ts":"x","msg":"slow fdatasync"}`, "WARN", "slow fdatasync", true},
		{"etcd json info", `{"level":"info","msg":"ok"}`, "INFO", "ok", false},
		{"not a log line", `--- 2026 triad demo: bin/triad run`, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			level, msg, ok := warning(tc.line)
			if ok != tc.ok || (ok && (level != tc.level || msg != tc.msg)) {
				t.Errorf("warning(%q) = %q, %q, %v; want %q, %q, %v", tc.line, level, msg, ok, tc.level, tc.msg, tc.ok)
			}
		})
	}
}

func TestSingleConfig(t *testing.T) {
	dir := t.TempDir()
	l, err := demo.Plan(filepath.Join(dir, "cluster"), 21883, demo.DefaultCluster)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(l.Nodes[0].ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := singleConfig(src, filepath.Join(dir, "single"), filepath.Join(dir, "ds.json"), "127.0.0.1:1883", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(out, "single.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	switch {
	case c.Cluster != nil:
		t.Error("the cluster section is still there")
	case c.Node.Name != "single" || c.Node.DataDir != filepath.Join(dir, "single", "data"):
		t.Errorf("node %+v", c.Node)
	case len(c.MQTT.Listeners) != 1 || c.MQTT.Listeners[0].Address != "127.0.0.1:1883":
		t.Errorf("listeners %+v", c.MQTT.Listeners)
	case c.HTTP.Address != "127.0.0.1:8080":
		t.Errorf("http %+v", c.HTTP)
	case !c.Dynsec.Enabled || !c.Dynsec.AllowAnonymous || c.Dynsec.File != filepath.Join(dir, "ds.json"):
		t.Errorf("dynsec %+v: the demo's settings should stay", c.Dynsec)
	}
}

func TestPackets(t *testing.T) {
	t.Run("connect: persistent session, keepalive, id", func(t *testing.T) {
		pk := connectPacket(&session{id: "c1", keepAlive: 60})
		want := []byte{pktConnect << 4, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 60, 0, 2, 'c', '1'}
		if !bytes.Equal(pk, want) {
			t.Errorf("CONNECT % x, want % x", pk, want)
		}
	})
	t.Run("subscribe: every filter at QoS 1", func(t *testing.T) {
		pk := subscribePacket(7, []string{"a", "bc"})
		want := []byte{pktSubscribe<<4 | 2, 11, 0, 7, 0, 1, 'a', 1, 0, 2, 'b', 'c', 1}
		if !bytes.Equal(pk, want) {
			t.Errorf("SUBSCRIBE % x, want % x", pk, want)
		}
	})
}

// TestHandshake runs dialSession against a scripted broker on a pipe.
func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		name      string
		connack   []byte
		suback    []byte
		subscribe bool
		present   bool
		errClass  string
	}{
		{"new session, subscribed", []byte{0x20, 2, 0, 0}, []byte{0x90, 4, 0, 1, 1, 1}, true, false, ""},
		{"session present, no resubscribe", []byte{0x20, 2, 1, 0}, nil, false, true, ""},
		{"refused", []byte{0x20, 2, 0, 5}, nil, true, false, "connack: refused (return code)"},
		{"subscription failed", []byte{0x20, 2, 0, 0}, []byte{0x90, 4, 0, 1, 1, 0x80}, true, false, "suback: subscription not granted"},
		{"closed before CONNACK", nil, nil, true, false, "connack: closed by the peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pipe(t)
			go scriptedBroker(server, tc.connack, tc.suback)
			m := &mqttConn{c: client, r: newReader(client)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			hs, err := m.handshake(ctx, &session{id: "x", keepAlive: 60, filters: []string{"f1", "f2"}},
				func(present bool) bool { return !present })
			if tc.errClass != "" {
				if err == nil || errClass(err) != tc.errClass {
					t.Fatalf("err %v (class %q), want class %q", err, errClass(err), tc.errClass)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hs.sessionPresent != tc.present || hs.subscribed != tc.subscribe {
				t.Errorf("handshake %+v, want present %v subscribed %v", hs, tc.present, tc.subscribe)
			}
		})
	}
}

// pipe is an in-memory connection pair, closed at the end of the test.
func pipe(t *testing.T) (client, server net.Conn) {
	client, server = net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// scriptedBroker reads CONNECT, answers connack (closes if nil), then
// reads a SUBSCRIBE and answers suback if it is not nil, then reads until
// the client closes.
func scriptedBroker(c io.ReadWriteCloser, connack, suback []byte) {
	defer c.Close()
	r := newReader(c)
	m := &mqttConn{r: r}
	if _, _, _, err := m.readPacket(); err != nil || connack == nil {
		return
	}
	if _, err := c.Write(connack); err != nil {
		return
	}
	if suback != nil {
		if typ, _, body, err := m.readPacket(); err != nil || typ != pktSubscribe || binary.BigEndian.Uint16(body) != subscribeID {
			return
		}
		if _, err := c.Write(suback); err != nil {
			return // the test sees it as a failed handshake
		}
	}
	io.Copy(io.Discard, r) // until the test closes the pipe
}

func TestErrClass(t *testing.T) {
	for err, want := range map[error]string{
		&stageError{"dial", fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)}: "dial: connection refused",
		&stageError{"connack", io.EOF}:                                        "connack: closed by the peer",
		&stageError{"suback", os.ErrDeadlineExceeded}:                         "suback: timeout",
		&stageError{"dial", syscall.EADDRNOTAVAIL}:                            "dial: no free local port",
		io.ErrClosedPipe: "other: other",
	} {
		if got := errClass(err); got != want {
			t.Errorf("errClass(%v) = %q, want %q", err, got, want)
		}
	}
}
