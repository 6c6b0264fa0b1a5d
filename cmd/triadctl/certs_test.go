package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triadmq/triad/internal/pki"
)

// certsInit runs "triadctl certs init" with args, and no etcd anywhere: a
// command that opened an etcd session would fail with "no etcd given".
func certsInit(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := triadctl(ctxFor(t), env, append([]string{"certs", "init"}, args...)...)
	t.Logf("triadctl certs init %s -> %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verifyNode checks that node's certificate in dir is signed by dir's CA
// for both directions of a connection and every host, and names node of
// cluster.
func verifyNode(t *testing.T, dir, cluster, node string, hosts ...string) *x509.Certificate {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, filepath.Join(dir, "ca.pem")))
	c := readCert(t, filepath.Join(dir, node+".pem"))
	for _, h := range hosts {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: h, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s for %s: %v", node, h, err)
			}
		}
	}
	if gotCluster, gotNode, ok := pki.Identity(c); !ok || gotCluster != cluster || gotNode != node {
		t.Errorf("%s names %q, %q, %v", node, gotCluster, gotNode, ok)
	}
	return c
}

func TestCertsInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	before := time.Now()
	r := certsInit(t, nil, "--dir", dir, "--cluster", "prod", "--node", "n1=10.0.0.1",
		"--node", "n2=10.0.0.2, n2.triad.test", "--node=n3=10.0.0.3", "--days", "30")
	var wrote []string
	for _, f := range []string{"ca-key.pem", "ca.pem", "n1-key.pem", "n1.pem", "n2-key.pem", "n2.pem", "n3-key.pem", "n3.pem"} {
		wrote = append(wrote, "wrote "+filepath.Join(dir, f)+"\n")
	}
	r.want(t, 0, append(wrote,
		"  n2: "+filepath.Join(dir, "ca.pem")+" "+filepath.Join(dir, "n2.pem")+" "+filepath.Join(dir, "n2-key.pem")+"\n",
		"cluster.replication.tls.ca:   /etc/triad/certs/ca.pem\n",
		"cluster.replication.tls.cert: /etc/triad/certs/NODE.pem\n",
		"cluster.replication.tls.key:  /etc/triad/certs/NODE-key.pem\n",
		"Keep "+filepath.Join(dir, "ca-key.pem")+" offline"), nil)
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
	verifyNode(t, dir, "prod", "n1", "10.0.0.1")
	c := verifyNode(t, dir, "prod", "n2", "10.0.0.2", "n2.triad.test")
	verifyNode(t, dir, "prod", "n3", "10.0.0.3")
	earliest, latest := before.Add(30*24*time.Hour).Truncate(time.Second), time.Now().Add(30*24*time.Hour)
	if c.NotAfter.Before(earliest) || c.NotAfter.After(latest) {
		t.Errorf("--days 30: NotAfter %v, want between %v and %v", c.NotAfter, earliest, latest)
	}

	t.Run("add a node", func(t *testing.T) {
		ca := readCert(t, filepath.Join(dir, "ca.pem"))
		certsInit(t, map[string]string{"TRIAD_CLUSTER": "prod"}, "--dir", dir, "--node", "n4=10.0.0.4").want(t, 0, []string{
			"wrote " + filepath.Join(dir, "n4.pem"),
			"signed with the existing CA " + filepath.Join(dir, "ca.pem") + " of cluster prod",
		}, nil)
		verifyNode(t, dir, "prod", "n4", "10.0.0.4")
		if !readCert(t, filepath.Join(dir, "ca.pem")).Equal(ca) {
			t.Error("ca.pem changed")
		}
	})
	t.Run("no overwrite without --force", func(t *testing.T) {
		old := readCert(t, filepath.Join(dir, "n1.pem"))
		r := certsInit(t, nil, "--dir", dir, "--cluster", "prod", "--node", "n5=10.0.0.5", "--node", "n1=10.0.0.1")
		r.want(t, 1, nil, []string{"refusing to overwrite " + filepath.Join(dir, "n1.pem"), "--force"})
		if r.stdout != "" {
			t.Errorf("stdout %q: nothing should be written", r.stdout)
		}
		if _, err := os.Stat(filepath.Join(dir, "n5.pem")); err == nil {
			t.Error("n5.pem written")
		}
		certsInit(t, nil, "--dir", dir, "--cluster", "prod", "--node", "n1=10.0.0.1", "--force").
			want(t, 0, []string{"wrote " + filepath.Join(dir, "n1.pem")}, nil)
		if readCert(t, filepath.Join(dir, "n1.pem")).Equal(old) {
			t.Error("--force left n1.pem as it was")
		}
		verifyNode(t, dir, "prod", "n1", "10.0.0.1")
	})
	t.Run("CA of another cluster", func(t *testing.T) {
		certsInit(t, nil, "--dir", dir, "--cluster", "staging", "--node", "n5=10.0.0.5").
			want(t, 1, nil, []string{filepath.Join(dir, "ca.pem") + ` is the CA of cluster "prod", not "staging"`})
	})
}

// TestCertsInitClusterFromConfig takes the cluster name from a node's
// config, whose etcd is not running.
func TestCertsInitClusterFromConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "triad.yaml")
	yaml := `node:
  name: n1
  data_dir: /var/lib/triad
mqtt:
  listeners:
    - type: tcp
      address: 127.0.0.1:1883
cluster:
  name: fromconfig
  etcd:
    endpoints: [http://127.0.0.1:1]
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certsInit(t, map[string]string{"TRIAD_CLUSTER": "fromenv"}, "--config", cfg, "--dir", dir, "--node", "n1=127.0.0.1").
		want(t, 0, []string{"wrote " + filepath.Join(dir, "n1.pem")}, nil)
	verifyNode(t, dir, "fromconfig", "n1", "127.0.0.1")

	t.Run("--cluster wins, config unread", func(t *testing.T) {
		dir := t.TempDir()
		certsInit(t, nil, "--config", "/nonexistent/triad.yaml", "--cluster", "flag", "--dir", dir, "--node", "n1=127.0.0.1").
			want(t, 0, nil, nil)
		verifyNode(t, dir, "flag", "n1", "127.0.0.1")
	})
	t.Run("missing config", func(t *testing.T) {
		certsInit(t, nil, "--config", "/nonexistent/triad.yaml", "--dir", t.TempDir(), "--node", "n1=127.0.0.1").
			want(t, 1, nil, []string{"/nonexistent/triad.yaml", "give --cluster NAME instead"})
	})
}

func TestCertsBadInput(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string // after "certs"
		code   int
		stderr string
	}{
		{"no subcommand", nil, 2, "certs: missing subcommand: certs init"},
		{"unknown subcommand", []string{"list"}, 2, `certs: unknown subcommand "list"`},
		{"argument", []string{"init", "n1", "--node", "n1=10.0.0.1"}, 2, `certs init takes no arguments, got ["n1"]`},
		{"no --dir", []string{"init", "--node", "n1=10.0.0.1"}, 2, "certs init: missing --dir DIR"},
		{"no --node", []string{"init", "--dir", "DIR"}, 2, "certs init: missing --node NAME=HOST[,HOST...]"},
		{"--node without =", []string{"init", "--dir", "DIR", "--node", "n1"}, 2, `--node "n1": no '='`},
		{"--node without host", []string{"init", "--dir", "DIR", "--node", "n1="}, 2, `--node "n1=": no host after '='`},
		{"--node with an empty host", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1,,n1"}, 2, `--node "n1=10.0.0.1,,n1": an empty host`},
		{"--node bad name", []string{"init", "--dir", "DIR", "--node", "n/1=10.0.0.1"}, 2, `--node "n/1=10.0.0.1": "n/1" is not a node name`},
		{"--node without name", []string{"init", "--dir", "DIR", "--node", "=10.0.0.1"}, 2, `--node "=10.0.0.1": "" is not a node name`},
		{"--node bad host", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1:7400"}, 2, `node "n1": host "10.0.0.1:7400" is neither an IP address nor a DNS name`},
		{"--node twice", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1", "--node", "n1=10.0.0.2"}, 2, `node "n1" given twice`},
		{"--days zero", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1", "--days", "0"}, 2, `--days "0": want a whole number of days from 1 to 36500`},
		{"--days not a number", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1", "--days", "1y"}, 2, `--days "1y"`},
		{"bad cluster", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1", "--cluster", "a b"}, 2, `--cluster: "a b" is not a cluster name`},
		{"cluster pki cannot name", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1", "--cluster", "prod."}, 2, `cluster "prod." cannot name a certificate`},
		{"no cluster", []string{"init", "--dir", "DIR", "--node", "n1=10.0.0.1", "--cluster", ""}, 2, "--cluster needs a non-empty value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "certs")
			args := slices.Clone(c.args)
			for i, a := range args {
				if a == "DIR" {
					args[i] = dir
				}
			}
			if !slices.Contains(args, "--cluster") {
				args = append(args, "--cluster", "prod")
			}
			r := triadctl(ctxFor(t), nil, append([]string{"certs"}, args...)...)
			r.want(t, c.code, nil, []string{c.stderr})
			if !strings.Contains(r.stderr, "triadctl help") {
				t.Errorf("usage error without a pointer to help: %q", r.stderr)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("the directory was created")
			}
		})
	}
	t.Run("no cluster anywhere", func(t *testing.T) {
		certsInit(t, nil, "--dir", t.TempDir(), "--node", "n1=10.0.0.1").
			want(t, 2, nil, []string{"no cluster given: use --cluster NAME, --config FILE or set TRIAD_CLUSTER"})
	})
	t.Run("--node for another command", func(t *testing.T) {
		triadctl(ctxFor(t), nil, "pin", "n1", "--node", "n1=10.0.0.1").want(t, 2, nil, []string{"pin does not take --node"})
	})
	t.Run("directory under a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		certsInit(t, nil, "--dir", filepath.Join(file, "certs"), "--cluster", "prod", "--node", "n1=10.0.0.1").
			want(t, 1, nil, []string{"certs init: ", filepath.Join(file, "certs")})
	})
}
