package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of every Init in these tests but the handshakes.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

func threeNodes() []NodeSpec {
	return []NodeSpec{
		{Name: "n1", Hosts: []string{"10.0.0.1", "n1.triad.test"}},
		{Name: "n2", Hosts: []string{"10.0.0.2", "fd00::2", "n2.triad.test"}},
		{Name: "n3", Hosts: []string{"10.0.0.3"}},
	}
}

// mustInit runs Init and fails the test on an error.
func mustInit(t *testing.T, o InitOptions) []string {
	t.Helper()
	if o.Now == nil {
		o.Now = clock
	}
	written, err := Init(o)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return written
}

// paths joins dir and each name.
func paths(dir string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

func readCertFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("%s: want exactly one CERTIFICATE PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// caPool is a pool holding only the CA in dir.
func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(readCertFile(t, filepath.Join(dir, CAFile)))
	return pool
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestInitWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	written := mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()})

	want := paths(dir, "ca-key.pem", "ca.pem", "n1-key.pem", "n1.pem", "n2-key.pem", "n2.pem", "n3-key.pem", "n3.pem")
	if !slices.Equal(written, want) {
		t.Fatalf("written\n got %q\nwant %q", written, want)
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v; want 0700", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(paths(dir, names...), slices.Sorted(slices.Values(want))) {
		t.Errorf("directory holds %q (a temporary file left?)", names)
	}
	for _, path := range want {
		wantMode := fs.FileMode(0o644)
		if strings.HasSuffix(path, "-key.pem") {
			wantMode = 0o600
		}
		if fi, err := os.Stat(path); err != nil {
			t.Error(err)
		} else if fi.Mode() != wantMode {
			t.Errorf("%s: mode %v; want %v", filepath.Base(path), fi.Mode(), wantMode)
		}
	}
	for _, n := range []string{"ca", "n1", "n2", "n3"} {
		checkKeyFile(t, filepath.Join(dir, n+"-key.pem"), filepath.Join(dir, n+".pem"))
	}
}

// checkKeyFile checks that keyPath holds one PKCS #8 P-256 key, certPath's.
func checkKeyFile(t *testing.T, keyPath, certPath string) {
	t.Helper()
	block, rest := pem.Decode(readFile(t, keyPath))
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("%s: want exactly one PRIVATE KEY PEM block", keyPath)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", keyPath, err)
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("%s: %T, want a P-256 ECDSA key", keyPath, key)
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Errorf("key pair: %v", err)
	}
}

func TestInitCertificates(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()})

	ca := readCertFile(t, filepath.Join(dir, CAFile))
	if ca.Subject.CommonName != "Triad CA prod" || !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA: CN %q IsCA %v MaxPathLen %d (zero %v)", ca.Subject.CommonName, ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA key usage %b", ca.KeyUsage)
	}
	if c, ok := caCluster(ca); !ok || c != "prod" {
		t.Errorf("CA names cluster %q, %v", c, ok)
	}
	if !ca.NotBefore.Equal(testNow.Add(-5*time.Minute)) || !ca.NotAfter.Equal(testNow.Add(DefaultCAValidity)) {
		t.Errorf("CA valid %v to %v", ca.NotBefore, ca.NotAfter)
	}
	serials := map[string]bool{ca.SerialNumber.String(): true}
	for _, n := range threeNodes() {
		c := readCertFile(t, filepath.Join(dir, CertFile(n.Name)))
		if c.Subject.CommonName != n.Name || c.IsCA {
			t.Errorf("%s: CN %q IsCA %v", n.Name, c.Subject.CommonName, c.IsCA)
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) ||
			c.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Errorf("%s: ext key usage %v, key usage %b", n.Name, c.ExtKeyUsage, c.KeyUsage)
		}
		if !c.NotBefore.Equal(testNow.Add(-5*time.Minute)) || !c.NotAfter.Equal(testNow.Add(825*24*time.Hour)) {
			t.Errorf("%s: valid %v to %v", n.Name, c.NotBefore, c.NotAfter)
		}
		var hosts []string
		for _, ip := range c.IPAddresses {
			hosts = append(hosts, ip.String())
		}
		hosts = append(hosts, c.DNSNames...)
		if !slices.Equal(hosts, n.Hosts) {
			t.Errorf("%s: IP addresses then DNS names %q, want %q", n.Name, hosts, n.Hosts)
		}
		if len(c.URIs) != 1 || c.URIs[0].String() != "triad://prod/"+n.Name {
			t.Errorf("%s: URIs %v", n.Name, c.URIs)
		}
		if bits := c.SerialNumber.BitLen(); bits > 128 || bits < 96 || serials[c.SerialNumber.String()] {
			t.Errorf("%s: serial %x (%d bits) not a fresh 128-bit random", n.Name, c.SerialNumber, bits)
		}
		serials[c.SerialNumber.String()] = true
	}
}

// TestInitVerifies checks each node certificate against the CA for both
// key usages and each of its hosts.
func TestInitVerifies(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()})
	pool := caPool(t, dir)
	for _, n := range threeNodes() {
		c := readCertFile(t, filepath.Join(dir, CertFile(n.Name)))
		for _, h := range n.Hosts {
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				_, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: h, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{usage}})
				if err != nil {
					t.Errorf("%s for %s, usage %v: %v", n.Name, h, usage, err)
				}
			}
			if err := c.VerifyHostname(h); err != nil {
				t.Errorf("%s: VerifyHostname(%s): %v", n.Name, h, err)
			}
		}
		if err := c.VerifyHostname("10.0.0.9"); err == nil {
			t.Errorf("%s is valid for 10.0.0.9", n.Name)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow.Add(826 * 24 * time.Hour)}); err == nil {
			t.Errorf("%s still valid after 826 days", n.Name)
		}
	}
}

func TestInitValidity(t *testing.T) {
	t.Run("node validity", func(t *testing.T) {
		dir := t.TempDir()
		mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()[:1], NodeValidity: 90 * 24 * time.Hour})
		if c := readCertFile(t, filepath.Join(dir, "n1.pem")); !c.NotAfter.Equal(testNow.Add(90 * 24 * time.Hour)) {
			t.Errorf("NotAfter %v", c.NotAfter)
		}
	})
	t.Run("not past the CA", func(t *testing.T) {
		dir := t.TempDir()
		mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()[:1], CAValidity: 30 * 24 * time.Hour})
		ca, c := readCertFile(t, filepath.Join(dir, CAFile)), readCertFile(t, filepath.Join(dir, "n1.pem"))
		if !ca.NotAfter.Equal(testNow.Add(30*24*time.Hour)) || !c.NotAfter.Equal(ca.NotAfter) {
			t.Errorf("CA NotAfter %v, node NotAfter %v", ca.NotAfter, c.NotAfter)
		}
	})
}

// TestInitReusesCA adds a node to an existing CA.
func TestInitReusesCA(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()})
	caPEM, caKeyPEM := readFile(t, filepath.Join(dir, CAFile)), readFile(t, filepath.Join(dir, CAKeyFile))

	later := func() time.Time { return testNow.Add(24 * time.Hour) }
	written := mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Now: later, Nodes: []NodeSpec{{Name: "n4", Hosts: []string{"10.0.0.4"}}}})
	if want := paths(dir, "n4-key.pem", "n4.pem"); !slices.Equal(written, want) {
		t.Fatalf("written %q, want %q", written, want)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, CAFile)), caPEM) || !bytes.Equal(readFile(t, filepath.Join(dir, CAKeyFile)), caKeyPEM) {
		t.Fatal("the CA files changed")
	}
	pool := caPool(t, dir)
	for _, n := range []string{"n1", "n4"} {
		c := readCertFile(t, filepath.Join(dir, CertFile(n)))
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.0.0." + n[1:], CurrentTime: later(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	checkKeyFile(t, filepath.Join(dir, "n4-key.pem"), filepath.Join(dir, "n4.pem"))
}

// TestInitRefusesCA checks that Init adds no node to a CA it cannot trust
// for the cluster, and writes nothing.
func TestInitRefusesCA(t *testing.T) {
	n4 := []NodeSpec{{Name: "n4", Hosts: []string{"10.0.0.4"}}}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"of another cluster", func(t *testing.T, dir string) {
			mustInit(t, InitOptions{Dir: dir, Cluster: "staging", Nodes: threeNodes()})
		}, []string{"ca.pem is the CA of cluster \"staging\", not \"prod\""}},
		{"key of another CA", func(t *testing.T, dir string) {
			other := t.TempDir()
			mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()})
			mustInit(t, InitOptions{Dir: other, Cluster: "prod", Nodes: threeNodes()})
			copyFile(t, filepath.Join(other, CAKeyFile), filepath.Join(dir, CAKeyFile))
		}, []string{"ca-key.pem is not the key of", `"Triad CA prod"`}},
		{"certificate without key", func(t *testing.T, dir string) {
			mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()})
			removeFile(t, filepath.Join(dir, CAKeyFile))
		}, []string{"ca.pem exists but", "ca-key.pem does not"}},
		{"key without certificate", func(t *testing.T, dir string) {
			mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()})
			removeFile(t, filepath.Join(dir, CAFile))
		}, []string{"ca-key.pem exists but", "ca.pem does not"}},
		{"expired", func(t *testing.T, dir string) {
			mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes(), CAValidity: time.Hour,
				Now: func() time.Time { return testNow.Add(-2 * time.Hour) }})
		}, []string{"ca.pem expired on 2026-05-01T11:00:00Z"}},
		{"not a Triad CA", func(t *testing.T, dir string) {
			writeForeignCA(t, dir)
		}, []string{"names no Triad cluster", `"Other CA"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			written, err := Init(InitOptions{Dir: dir, Cluster: "prod", Nodes: n4, Now: clock, Force: true})
			if err == nil || len(written) > 0 {
				t.Fatalf("Init wrote %q, error %v", written, err)
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if errors.Is(err, ErrInvalidOptions) {
				t.Errorf("%v is ErrInvalidOptions", err)
			}
			if found, _ := exists(filepath.Join(dir, "n4.pem")); found {
				t.Error("n4.pem written")
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// writeForeignCA writes a CA of an operator's own PKI (no triad:// URI,
// SEC 1 key) into dir.
func writeForeignCA(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Other CA"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CAFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestInitRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: threeNodes()[:2]})
	n2PEM := readFile(t, filepath.Join(dir, "n2.pem"))
	again := []NodeSpec{{Name: "n3", Hosts: []string{"10.0.0.3"}}, {Name: "n2", Hosts: []string{"10.0.0.2"}}}

	written, err := Init(InitOptions{Dir: dir, Cluster: "prod", Nodes: again, Now: clock})
	if err == nil || len(written) > 0 {
		t.Fatalf("Init wrote %q, error %v", written, err)
	}
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), filepath.Join(dir, "n2.pem")) {
		t.Errorf("error %q: want fs.ErrExist naming n2.pem", err)
	}
	if found, _ := exists(filepath.Join(dir, "n3.pem")); found {
		t.Error("n3.pem written although n2's files were refused")
	}

	written = mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: again, Force: true})
	if want := paths(dir, "n3-key.pem", "n3.pem", "n2-key.pem", "n2.pem"); !slices.Equal(written, want) {
		t.Fatalf("written %q, want %q", written, want)
	}
	if bytes.Equal(readFile(t, filepath.Join(dir, "n2.pem")), n2PEM) {
		t.Error("--force left n2.pem as it was")
	}
	c := readCertFile(t, filepath.Join(dir, "n2.pem"))
	if _, err := c.Verify(x509.VerifyOptions{Roots: caPool(t, dir), CurrentTime: testNow}); err != nil {
		t.Errorf("the new n2.pem: %v", err)
	}
	checkKeyFile(t, filepath.Join(dir, "n2-key.pem"), filepath.Join(dir, "n2.pem"))
}

func TestInitBadOptions(t *testing.T) {
	node := func(name string, hosts ...string) NodeSpec { return NodeSpec{Name: name, Hosts: hosts} }
	ok := []NodeSpec{node("n1", "10.0.0.1")}
	for _, c := range []struct {
		name string
		o    InitOptions
		want []string
	}{
		{"no directory", InitOptions{Cluster: "prod", Nodes: ok}, []string{"no directory given"}},
		{"no cluster", InitOptions{Nodes: ok}, []string{`"" is not a cluster name`}},
		{"bad cluster", InitOptions{Cluster: "a b", Nodes: ok}, []string{`"a b" is not a cluster name`}},
		{"cluster with an empty label", InitOptions{Cluster: "prod.", Nodes: ok}, []string{`cluster "prod." cannot name a certificate`}},
		{"no node", InitOptions{Cluster: "prod"}, []string{"no node given"}},
		{"bad node", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("n/1", "10.0.0.1")}}, []string{`"n/1" is not a node name`}},
		{"node ca", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("ca", "10.0.0.1")}}, []string{`node "ca": its files would clash`}},
		{"node -key", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("n1-key", "10.0.0.1")}}, []string{`node "n1-key": its files would clash`}},
		{"node twice", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("n1", "10.0.0.1"), node("n1", "10.0.0.2")}}, []string{`node "n1" given twice`}},
		{"no host", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("n1")}}, []string{`node "n1": no host given`}},
		{"host with port", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("n1", "10.0.0.1:7400")}}, []string{`node "n1": host "10.0.0.1:7400" is neither`}},
		{"empty host", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("n1", "")}}, []string{`node "n1": host "" is neither`}},
		{"wildcard host", InitOptions{Cluster: "prod", Nodes: []NodeSpec{node("n1", "*.triad.test")}}, []string{`host "*.triad.test" is neither`}},
		{"negative validity", InitOptions{Cluster: "prod", Nodes: ok, NodeValidity: -time.Hour}, []string{"node validity -1h0m0s is negative"}},
		{"every problem", InitOptions{Cluster: "a b", Nodes: []NodeSpec{node("n/1", "x y")}}, []string{`"a b"`, `"n/1"`, `"x y"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "certs")
			if c.name != "no directory" {
				c.o.Dir = dir
			}
			written, err := Init(c.o)
			if !errors.Is(err, ErrInvalidOptions) || len(written) > 0 {
				t.Fatalf("Init wrote %q, error %v; want ErrInvalidOptions", written, err)
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("directory created: %v", err)
			}
		})
	}
}

// TestInitHostsDeduplicated checks that a host given twice is listed once.
func TestInitHostsDeduplicated(t *testing.T) {
	dir := t.TempDir()
	mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: []NodeSpec{{Name: "n1", Hosts: []string{"10.0.0.1", "n1", "10.0.0.1", "n1"}}}})
	c := readCertFile(t, filepath.Join(dir, "n1.pem"))
	if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || !slices.Equal(c.DNSNames, []string{"n1"}) {
		t.Errorf("IPs %v, DNS names %q", c.IPAddresses, c.DNSNames)
	}
}
