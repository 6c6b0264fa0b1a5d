package lbagent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triadmq/triad/config"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("cluster: prod\netcd:\n  endpoints: [\"http://10.0.0.1:2379\"]\n"), "lbagent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HAProxy.Socket != DefaultSocket || c.HAProxy.Backend != "triad" || c.HAProxy.Timeout.D() != 2*time.Second ||
		c.Etcd.DialTimeout.D() != 2*time.Second || c.ReconcileInterval.D() != 2*time.Second ||
		c.FallbackAfter.D() != 15*time.Second || c.Log.Level != "info" || c.Log.Format != "text" || c.Servers != nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.ServerOf("n1") != "n1" || c.NodeOf("n1") != "n1" {
		t.Errorf("default mapping: ServerOf(n1) = %q, NodeOf(n1) = %q", c.ServerOf("n1"), c.NodeOf("n1"))
	}
}

func TestParseConfigFull(t *testing.T) {
	doc := `cluster: eu-1
etcd:
  endpoints:
    - http://10.0.0.1:2379
    - http://10.0.0.2:2379
  dial_timeout: 750ms
haproxy:
  socket: ipv4@127.0.0.1:9999
  backend: mqtt_nodes
  timeout: 1s
servers:
  node-a: n1
  node-b: n2
reconcile_interval: 500ms
fallback_after: 0
log:
  level: debug
  format: json
`
	c, err := ParseConfig([]byte(doc), "lbagent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster != "eu-1" || len(c.Etcd.Endpoints) != 2 || c.Etcd.DialTimeout.D() != 750*time.Millisecond ||
		c.HAProxy.Socket != "ipv4@127.0.0.1:9999" || c.HAProxy.Backend != "mqtt_nodes" || c.HAProxy.Timeout.D() != time.Second ||
		c.ReconcileInterval.D() != 500*time.Millisecond || c.FallbackAfter.D() != 0 || c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("parsed %+v", c)
	}
	if c.ServerOf("node-a") != "n1" || c.ServerOf("node-c") != "node-c" || c.NodeOf("n2") != "node-b" || c.NodeOf("n3") != "n3" {
		t.Errorf("mapping: %v", c.Servers)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := "cluster: prod\netcd:\n  endpoints: [\"http://10.0.0.1:2379\"]\n"
	for _, tc := range []struct {
		name, doc string
		want      []string // each error must contain one of these, in order
	}{
		{"unknown key with its line", base + "haproxy:\n  backnd: triad\n",
			[]string{`f.yaml:5: haproxy.backnd: unknown key (did you mean "backend"?)`}},
		{"unknown top-level key", base + "reconcile: 2s\n", []string{`f.yaml:4: reconcile: unknown key (known keys: cluster, etcd, haproxy, servers, reconcile_interval, fallback_after, log)`}},
		{"misspelt key", base + "fallback_afer: 2s\n", []string{`f.yaml:4: fallback_afer: unknown key (did you mean "fallback_after"?)`}},
		{"duplicate key", base + "cluster: other\n", []string{"f.yaml:4: cluster: duplicate key (first given on line 1)"}},
		{"bad duration", base + "reconcile_interval: soon\n", []string{`f.yaml:4: reconcile_interval: "soon" is not a duration`}},
		{"wrong type", base + "servers: [n1, n2]\n", []string{"f.yaml:4: servers: expected a mapping, got a list"}},
		{"missing cluster and endpoints", "log:\n  level: loud\n", []string{
			"f.yaml:1: cluster: missing",
			"f.yaml:1: etcd.endpoints: missing",
			`f.yaml:2: log.level: "loud" is not one of debug, info, warn, error`,
		}},
		{"bad values", "cluster: a/b\netcd:\n  endpoints: [\"10.0.0.1:2379\"]\n  dial_timeout: 0\nhaproxy:\n  socket: admin.sock\n  backend: \"tri ad\"\nreconcile_interval: 10ms\n", []string{
			`f.yaml:1: cluster: "a/b" must be 1 to 63 characters`,
			`f.yaml:3: etcd.endpoints[0]: "10.0.0.1:2379" is not an http:// or https:// URL`,
			"f.yaml:4: etcd.dial_timeout: 0s must be above 0",
			`f.yaml:6: haproxy.socket: "admin.sock" is not a unix socket path`,
			`f.yaml:7: haproxy.backend: "tri ad"`,
			"f.yaml:8: reconcile_interval: 10ms is too short",
		}},
		{"servers clash", base + "servers:\n  n1: s1\n  n2: s1\n  n3: n4\n  n5: \"bad;name\"\n  \"n/6\": s6\n", []string{
			`f.yaml:6: servers.n2: server "s1" is already the server of node "n1"`,
			`f.yaml:8: servers.n5: server name "bad;name"`,
			`f.yaml:9: servers.n/6: node name "n/6" must be 1 to 63 characters`,
		}},
		{"server without a value", base + "servers:\n  n1:\n", []string{"f.yaml:5: servers.n1: missing value"}},
		{"fallback shorter than the interval", base + "fallback_after: 1s\n", []string{"f.yaml:4: fallback_after: 1s is shorter than reconcile_interval (2s)"}},
		{"tls with http endpoints and missing files", base + "  tls:\n    cert: /nonexistent/c.pem\n", []string{
			`f.yaml:3: etcd.endpoints[0]: "http://10.0.0.1:2379" is plain http, but etcd.tls is set`,
			`f.yaml:4: etcd.tls.key: missing: cert "/nonexistent/c.pem" needs its key`,
		}},
		{"empty", "", []string{"f.yaml:1: empty configuration"}},
		{"not a mapping", "- a\n", []string{"f.yaml:1: the top level must be a mapping, got a list"}},
		{"two documents", base + "---\ncluster: x\n", []string{"f.yaml:5: a second YAML document"}},
		{"syntax", "cluster: [\n", []string{"f.yaml:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc), "f.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("error %v is not a *config.Error", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d errors:\n%v\nwant %d: %q", len(lines), err, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q; want it to start with %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestLoadConfigTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "cluster: prod\netcd:\n  endpoints: [\"https://10.0.0.1:2379\"]\n  tls:\n    ca: " + ca + "\n"
	path := filepath.Join(dir, "lbagent.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path+":5: etcd.tls.ca: \""+ca+"\" holds no PEM certificate") {
		t.Fatalf("LoadConfig = %v; want the CA reported with file and line", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadConfig(missing) = %v; want ErrNotExist", err)
	}
}

// The shipped example must load as it is.
func TestPackagedConfig(t *testing.T) {
	c, err := LoadConfig("../packaging/lbagent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HAProxy.Backend != "triad" || c.HAProxy.Socket != "/run/haproxy/admin.sock" {
		t.Errorf("packaged config does not match packaging/haproxy/haproxy.cfg: %+v", c.HAProxy)
	}
}

func TestEffectiveRoundTrips(t *testing.T) {
	doc := "cluster: prod\netcd:\n  endpoints: [\"http://10.0.0.1:2379\"]\nservers:\n  a: n1\nfallback_after: 0\n"
	c, err := ParseConfig([]byte(doc), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(out, "effective.yaml")
	if err != nil {
		t.Fatalf("effective config does not parse: %v\n%s", err, out)
	}
	again, err := back.Effective()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(out) || back.FallbackAfter != 0 || back.ServerOf("a") != "n1" {
		t.Fatalf("round trip changed the config:\n%s\n---\n%s", out, again)
	}
	for _, key := range []string{"reconcile_interval: 2s", "fallback_after: 0s", "socket: /run/haproxy/admin.sock", "backend: triad", "dial_timeout: 2s"} {
		if !strings.Contains(string(out), key) {
			t.Errorf("effective config lacks %q:\n%s", key, out)
		}
	}
}
