package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	etcd := []string{"--etcd", "http://127.0.0.1:1", "--cluster", "c"}
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, 2, "no command given"},
		{"unknown command", []string{"stauts"}, 2, `unknown command "stauts"`},
		{"unknown flag", []string{"status", "--jsno"}, 2, `unknown flag "--jsno"`},
		{"flag of another command", []string{"history", "--watch"}, 2, "history does not take --watch"},
		{"missing NODE", []string{"pin"}, 2, "pin: missing NODE argument"},
		{"two NODEs", []string{"pin", "n1", "n2"}, 2, `pin takes one NODE argument, got 2`},
		{"bad node name", []string{"pin", "n/1"}, 2, `"n/1" is not a node name`},
		{"argument to status", []string{"status", "n1"}, 2, `status takes no arguments, got ["n1"]`},
		{"bad timeout", []string{"status", "--timeout", "soon"}, 2, `--timeout "soon": want a positive duration`},
		{"zero timeout", []string{"status", "--timeout=0s"}, 2, `--timeout "0s"`},
		{"flag without value", []string{"status", "--cluster"}, 2, "--cluster needs a value"},
		{"flag as value", []string{"status", "--cluster", "--json"}, 2, "--cluster needs a value"},
		{"bad bool", []string{"status", "--json=maybe"}, 2, `--json="maybe": want true or false`},
		{"bad etcd URL", []string{"status", "--etcd", "ftp://x"}, 2, `--etcd: "ftp://x" is not an etcd client URL`},
		{"bad cluster", []string{"status", "--cluster", "a b"}, 2, `--cluster: "a b" is not a cluster name`},
		{"failover without force", []string{"failover", "--to", "n1"}, 2, "failover needs --force"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := triadctl(ctxFor(t), nil, slices.Concat(etcd, c.args)...)
			r.want(t, c.code, nil, []string{c.stderr})
			if c.code == 2 && !strings.Contains(r.stderr, "triadctl help") {
				t.Errorf("usage error without a pointer to help: %q", r.stderr)
			}
		})
	}

	t.Run("no etcd", func(t *testing.T) {
		triadctl(ctxFor(t), nil, "status", "--cluster", "c").want(t, 2, nil, []string{
			"no etcd given: use --etcd URL[,URL], --config FILE or set TRIAD_ETCD"})
	})
	t.Run("no cluster", func(t *testing.T) {
		triadctl(ctxFor(t), nil, "status", "--etcd", "127.0.0.1:2379").want(t, 2, nil, []string{
			"no cluster given: use --cluster NAME, --config FILE or set TRIAD_CLUSTER"})
	})
	t.Run("bad TRIAD_ETCD", func(t *testing.T) {
		triadctl(ctxFor(t), map[string]string{"TRIAD_ETCD": "ftp://x", "TRIAD_CLUSTER": "c"}, "status").
			want(t, 2, nil, []string{`TRIAD_ETCD: "ftp://x" is not an etcd client URL`})
	})
	t.Run("unreachable etcd", func(t *testing.T) {
		r := triadctl(ctxFor(t), nil, "status", "--etcd", "http://127.0.0.1:1", "--cluster", "c", "--timeout", "300ms")
		r.want(t, 1, nil, []string{"etcd at http://127.0.0.1:1 did not answer within 300ms"})
	})
	t.Run("missing config", func(t *testing.T) {
		triadctl(ctxFor(t), nil, "status", "--config", "/nonexistent/triad.yaml").want(t, 1, nil, []string{"/nonexistent/triad.yaml"})
	})
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"status", "-h"}, {"--etcd", "x", "help"}} {
		r := triadctl(ctxFor(t), nil, args...)
		r.want(t, 0, []string{"usage: triadctl", "switchover [--to NODE]", "TRIAD_ETCD"}, nil)
		if r.stderr != "" {
			t.Errorf("%q: stderr %q", args, r.stderr)
		}
	}
}

// TestWhereEtcdIs checks where the cluster and endpoints come from: flags,
// a node's config, the environment; and that global flags go anywhere.
func TestWhereEtcdIs(t *testing.T) {
	e := startEtcd(t)
	e.writeCluster(t, "prod")
	cfg := filepath.Join(t.TempDir(), "triad.yaml")
	yaml := `node:
  name: n1
  data_dir: /var/lib/triad
mqtt:
  listeners:
    - type: tcp
      address: 127.0.0.1:1883
cluster:
  name: prod
  etcd:
    endpoints: [` + e.url + `]
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong.yaml")
	if err := os.WriteFile(wrong, []byte(strings.NewReplacer("prod", "other", e.url, "http://127.0.0.1:1").Replace(yaml)), 0o600); err != nil {
		t.Fatal(err)
	}
	standalone := filepath.Join(t.TempDir(), "standalone.yaml")
	if err := os.WriteFile(standalone, []byte(strings.Split(yaml, "cluster:")[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TRIAD_ETCD": e.url, "TRIAD_CLUSTER": "prod"}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"flags before", nil, []string{"--etcd", e.url, "--cluster=prod", "status"}},
		{"flags after", nil, []string{"status", "--etcd=" + e.url, "--cluster", "prod"}},
		{"config", nil, []string{"status", "--config", cfg}},
		{"environment", env, []string{"status"}},
		{"config wins over environment", map[string]string{"TRIAD_ETCD": "http://127.0.0.1:1", "TRIAD_CLUSTER": "other"},
			[]string{"--config", cfg, "status", "--timeout", "5s"}},
		{"flags win over config", nil, []string{"--config", wrong, "--etcd", e.url, "--cluster", "prod", "status"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			triadctl(ctxFor(t), c.env, c.args...).want(t, 0, []string{"cluster  prod", "leader   n2"}, nil)
		})
	}
	t.Run("standalone config", func(t *testing.T) {
		triadctl(ctxFor(t), nil, "status", "--config", standalone).want(t, 1, nil, []string{"no cluster section"})
	})
}
