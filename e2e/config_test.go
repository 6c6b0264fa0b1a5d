package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The triad command line: check-config and run on invalid files must fail
// with exit status 1 and a message that names the file, line, key and
// value (or the address or path); check-config on a valid file prints the
// effective configuration; version and usage errors.

// runTriad runs the triad binary and returns stdout, stderr and the exit
// code. A run longer than 30s fails the test.
func runTriad(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, triadBin, args...)
	// The race detector sleeps 1s at exit by default; none needed here.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("triad %v still running after 30s\nstdout: %s\nstderr: %s", args, out.String(), errOut.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("triad %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// expectConfigError runs `triad <cmd> --config path` and asserts exit status
// 1, nothing on stdout, and every string of want on stderr.
func expectConfigError(t *testing.T, cmd, path string, want []string) {
	t.Helper()
	out, errOut, code := runTriad(t, cmd, "--config", path)
	if code != 1 {
		t.Errorf("triad %s: exit status %d, want 1\nstdout: %s\nstderr: %s", cmd, code, out, errOut)
	}
	if out != "" {
		t.Errorf("triad %s: printed on stdout: %s", cmd, out)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("triad %s: stderr lacks %q:\n%s", cmd, w, errOut)
		}
	}
}

// TestInvalidConfigFiles: each broken file is refused by check-config and
// by run, with a message naming file:line, the key and the value.
func TestInvalidConfigFiles(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	missingCert := filepath.Join(dir, "no-such-dir", "server.pem")
	missingKey := filepath.Join(dir, "no-such-dir", "server-key.pem")
	cases := []struct {
		name string
		yaml string // the file's content, %[1]s: data dir; empty: the file does not exist
		want []string
	}{
		{
			name: "unknown key",
			yaml: "node:\n  name: n1\n  data_dir: %[1]s\n  nmae: x\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:0\n",
			want: []string{":4: node.nmae: unknown key", `did you mean "name"`},
		},
		{
			name: "bad listener type",
			yaml: "node:\n  name: n1\n  data_dir: %[1]s\nmqtt:\n  listeners:\n    - type: udp\n      address: 127.0.0.1:0\n",
			want: []string{`:6: mqtt.listeners[0].type: "udp" is not one of tcp, tls, websocket`},
		},
		{
			name: "address without port",
			yaml: "node:\n  name: n1\n  data_dir: %[1]s\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1\n",
			want: []string{`:7: mqtt.listeners[0].address: "127.0.0.1" is not a host:port address`},
		},
		{
			name: "port out of range, and a bad http address",
			yaml: "node:\n  name: n1\n  data_dir: %[1]s\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:70000\nhttp:\n  address: localhost\n",
			want: []string{`:7: mqtt.listeners[0].address: "127.0.0.1:70000" has port "70000"`,
				`:9: http.address: "localhost" is not a host:port address`},
		},
		{
			name: "missing node.name",
			yaml: "node:\n  data_dir: %[1]s\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:0\n",
			want: []string{":1: node.name: missing"},
		},
		{
			name: "YAML syntax error",
			yaml: "node:\n  name: n1\n  data_dir: %[1]s\nmqtt:\n  listeners: a: b\n",
			want: []string{":5: invalid YAML: mapping values are not allowed"},
		},
		{
			name: "tab indentation",
			yaml: "node:\n\tname: n1\n",
			want: []string{":2: invalid YAML"},
		},
		{
			name: "nonexistent file",
			want: []string{"no such file or directory"},
		},
		{
			name: "TLS listener with missing cert and key",
			yaml: "node:\n  name: n1\n  data_dir: %[1]s\nmqtt:\n  listeners:\n    - type: tls\n      address: 127.0.0.1:0\n      tls:\n" +
				"        cert: " + missingCert + "\n        key: " + missingKey + "\n",
			want: []string{fmt.Sprintf(`:9: mqtt.listeners[0].tls.cert: %q cannot be read: no such file or directory`, missingCert),
				fmt.Sprintf(`:10: mqtt.listeners[0].tls.key: %q cannot be read`, missingKey)},
		},
		{
			name: "TLS block on a tcp listener",
			yaml: "node:\n  name: n1\n  data_dir: %[1]s\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:0\n      tls:\n        cert: c\n        key: k\n",
			want: []string{":8: mqtt.listeners[0].tls: not allowed on a tcp listener"},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("case%d.yaml", i))
			if c.yaml != "" {
				writeFile(t, dir, filepath.Base(path), fmt.Sprintf(c.yaml, data))
			}
			want := []string{path} // every message names the file
			for _, w := range c.want {
				if strings.HasPrefix(w, ":") {
					w = path + w // "file:line: ..."
				}
				want = append(want, w)
			}
			expectConfigError(t, "check-config", path, want)
			expectConfigError(t, "run", path, want)
		})
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused configuration created the data dir (stat: %v)", err)
	}
}

// TestRunAddressInUse: `triad run` fails (exit 1) when a listening address
// is taken, naming the address, instead of serving without it.
func TestRunAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().String()
	dir := t.TempDir()
	free := func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }
	for _, c := range []struct{ name, tcp, ws, http string }{
		{"tcp listener", busy, free(), free()},
		{"websocket listener", free(), busy, free()},
		{"http", free(), free(), busy},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := fmt.Sprintf("node:\n  name: n1\n  data_dir: %s\nmqtt:\n  listeners:\n    - type: tcp\n      address: %s\n"+
				"    - type: websocket\n      address: %s\nhttp:\n  address: %s\n",
				filepath.Join(dir, "data"), c.tcp, c.ws, c.http)
			path := writeFile(t, dir, "triad.yaml", cfg)
			if out, errOut, code := runTriad(t, "check-config", "--config", path); code != 0 {
				t.Fatalf("check-config: exit %d\n%s%s", code, out, errOut)
			}
			_, errOut, code := runTriad(t, "run", "--config", path)
			if code != 1 {
				t.Errorf("run with %s in use: exit status %d, want 1\n%s", busy, code, errOut)
			}
			if !strings.Contains(errOut, busy) || !strings.Contains(errOut, "address already in use") {
				t.Errorf("run with %s in use: the error does not name the address:\n%s", busy, errOut)
			}
		})
	}
}

// TestCheckConfigValid: check-config on the minimal configuration prints
// the effective configuration, defaults included, and exits 0.
func TestCheckConfigValid(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "triad.yaml", fmt.Sprintf(
		"node:\n  name: n1\n  data_dir: %s\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:1883\nhttp:\n  address: 127.0.0.1:8008\n",
		filepath.Join(dir, "data")))
	out, errOut, code := runTriad(t, "check-config", "--config", path)
	if code != 0 || errOut != "" {
		t.Fatalf("check-config: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		path + ": valid",
		"name: n1",
		"id: tcp0",
		"address: 127.0.0.1:1883",
		"max_clients: 0",
		"max_packet_size: 1048576",
		"max_inflight: 1024",
		"receive_maximum: 1024",
		"max_queued_messages: 10000",
		"message_expiry: 0s",
		"session_expiry_max: 0s",
		"max_batch: 4096",
		"no_sync: false",
		"level: info",
		"format: text",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
	// The effective configuration is itself a valid configuration file.
	again := writeFile(t, dir, "effective.yaml", out)
	if out2, errOut, code := runTriad(t, "check-config", "--config", again); code != 0 {
		t.Errorf("check-config of its own output: exit %d\n%s", code, errOut)
	} else if body := func(s string) string { _, b, _ := strings.Cut(s, "\n"); return b }; body(out2) != body(out) {
		t.Errorf("effective configuration changed on a second pass:\n%s\nvs\n%s", out, out2)
	}
}

// TestCommandLine: version, unknown commands and missing arguments.
func TestCommandLine(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		out, errOut, code := runTriad(t, arg)
		if code != 0 || !regexp.MustCompile(`^triad \S+\n$`).MatchString(out) {
			t.Errorf("triad %s: exit %d, stdout %q, stderr %q; want exit 0 and \"triad <version>\"", arg, code, out, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{nil, "usage:"},
		{[]string{"run"}, "--config FILE is required"},
		{[]string{"check-config", "--config"}, "flag needs an argument"},
		{[]string{"check-config", "--config", "a.yaml", "extra"}, "takes no other arguments"},
		{[]string{"run", "--bogus"}, "flag provided but not defined"},
	} {
		out, errOut, code := runTriad(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("triad %q: exit %d, stderr %q; want exit 2 and %q\nstdout: %s", c.args, code, errOut, c.want, out)
		}
	}
}
