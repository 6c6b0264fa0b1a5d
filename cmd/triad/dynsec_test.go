package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triadmq/triad/dynsec"
)

func runDynsec(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cmdDynsec(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDynsecInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dynamic-security.json")
	code, out, errOut := runDynsec(t, "s3cret\n", "init", "--admin", "root", "--file", path)
	if code != 0 || !strings.Contains(out, `"root"`) {
		t.Fatalf("init: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600 (it holds a password hash)", path, err, fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("s3cret")) {
		t.Fatal("the plaintext password is in the file")
	}
	cfg, problems, err := dynsec.Load(data)
	if err != nil || len(problems) > 0 {
		t.Fatalf("the file does not load cleanly: %v %v", err, problems)
	}
	id := dynsec.Identity{Username: "root", HasUsername: true, ClientID: "c"}
	if got := dynsec.NewPolicy(cfg).Authenticate(id, []byte("s3cret"), true); got != dynsec.AuthAllowed {
		t.Fatalf("root with the password: %v", got)
	}
	if !dynsec.NewPolicy(cfg).Allowed(id, dynsec.AccessPublish, dynsec.ControlTopic) {
		t.Fatal("the admin may not use the control API")
	}

	// An existing file is never overwritten.
	if code, _, errOut := runDynsec(t, "other\n", "init", "--admin", "x", "--file", path); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("init over an existing file: exit %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("init changed an existing file")
	}
}

func TestDynsecInitPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "d.json")
	if code, _, errOut := runDynsec(t, "", "init", "--admin", "a", "--file", path, "--password-file", pwFile); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	data, _ := os.ReadFile(path)
	cfg, _, _ := dynsec.Load(data)
	id := dynsec.Identity{Username: "a", HasUsername: true, ClientID: "c"}
	if got := dynsec.NewPolicy(cfg).Authenticate(id, []byte("from-file"), true); got != dynsec.AuthAllowed {
		t.Fatalf("the password is the file's first line: %v", got)
	}
}

func TestDynsecInitRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"no admin", "pw\n", []string{"init", "--file", filepath.Join(dir, "a")}, 2, "--admin USER is required"},
		{"no file", "pw\n", []string{"init", "--admin", "a"}, 2, "exactly one of --config FILE and --file PATH"},
		{"both", "pw\n", []string{"init", "--admin", "a", "--file", "x", "--config", "y"}, 2, "exactly one of"},
		{"empty password", "\n", []string{"init", "--admin", "a", "--file", filepath.Join(dir, "b")}, 1, "empty password from stdin"},
		{"no password", "", []string{"init", "--admin", "a", "--file", filepath.Join(dir, "c")}, 1, "empty password from stdin"},
		{"missing password file", "", []string{"init", "--admin", "a", "--file", filepath.Join(dir, "d"), "--password-file", filepath.Join(dir, "nope")}, 1, "no such file"},
		{"unknown command", "", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runDynsec(t, c.stdin, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, c.code, c.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused init left %d files", len(entries))
	}
}

// TestDynsecExportMosquittoFile checks that a file Mosquitto 2.0.11 wrote
// exports byte for byte, and that a node's config names the file.
func TestDynsecExportMosquittoFile(t *testing.T) {
	fixture := "../../dynsec/testdata/mosquitto/dynamic-security.json"
	want, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runDynsec(t, "", "export", "--file", fixture)
	if code != 0 || out != string(want) || errOut != "" {
		t.Fatalf("export: exit %d, stderr %q, output equal to Mosquitto's file: %v", code, errOut, out == string(want))
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "triad.yaml")
	yaml := "node:\n  name: n1\n  data_dir: " + dir + "\nmqtt:\n  listeners:\n    - type: tcp\n      address: 127.0.0.1:1883\ndynsec:\n  file: " + fixture + "\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runDynsec(t, "", "export", "--config", cfgPath); code != 0 || out != string(want) {
		t.Fatalf("export --config: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runDynsec(t, "", "export", "--file", filepath.Join(dir, "missing.json")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("export of a missing file: exit %d, %q", code, errOut)
	}
}
