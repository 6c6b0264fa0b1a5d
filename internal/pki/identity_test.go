package pki

import (
	"crypto/x509"
	"net/url"
	"path/filepath"
	"testing"
)

func TestIdentityURI(t *testing.T) {
	if got := IdentityURI("prod", "n1").String(); got != "triad://prod/n1" {
		t.Errorf("IdentityURI = %q", got)
	}
}

// TestIdentityRoundTrip reads the identity back from certificates Init made.
func TestIdentityRoundTrip(t *testing.T) {
	dir := t.TempDir()
	nodes := []NodeSpec{{Name: "n1", Hosts: []string{"10.0.0.1"}}, {Name: "Node_2.b-c", Hosts: []string{"10.0.0.2"}}}
	mustInit(t, InitOptions{Dir: dir, Cluster: "A.b_c-1", Nodes: nodes})
	for _, n := range nodes {
		c := readCertFile(t, filepath.Join(dir, CertFile(n.Name)))
		if cluster, node, ok := Identity(c); !ok || cluster != "A.b_c-1" || node != n.Name {
			t.Errorf("Identity(%s) = %q, %q, %v", n.Name, cluster, node, ok)
		}
	}
	if cluster, node, ok := Identity(readCertFile(t, filepath.Join(dir, CAFile))); ok {
		t.Errorf("Identity(CA) = %q, %q, true; a CA is no node", cluster, node)
	}
}

func TestIdentity(t *testing.T) {
	parse := func(t *testing.T, ss ...string) []*url.URL {
		var us []*url.URL
		for _, s := range ss {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			us = append(us, u)
		}
		return us
	}
	for _, c := range []struct {
		name string
		uris []string
		raw  *url.URL // instead of uris: a URL that url.Parse would not make
		ok   bool
	}{
		{name: "identity", uris: []string{"triad://prod/n1"}, ok: true},
		{name: "among other URIs", uris: []string{"spiffe://prod/n2", "triad://prod/n1", "https://n1.triad.test/"}, ok: true},
		{name: "no URI"},
		{name: "another scheme", uris: []string{"spiffe://prod/n1"}},
		{name: "cluster only (a CA)", uris: []string{"triad://prod"}},
		{name: "empty node", uris: []string{"triad://prod/"}},
		{name: "path below node", uris: []string{"triad://prod/n1/x"}},
		{name: "port", uris: []string{"triad://prod:7400/n1"}},
		{name: "user", uris: []string{"triad://u@prod/n1"}},
		{name: "query", uris: []string{"triad://prod/n1?x=1"}},
		{name: "empty query", uris: []string{"triad://prod/n1?"}},
		{name: "fragment", uris: []string{"triad://prod/n1#x"}},
		{name: "opaque", uris: []string{"triad:prod/n1"}},
		{name: "escaped node", uris: []string{"triad://prod/n%31"}},
		{name: "bad node name", uris: []string{"triad://prod/n%201"}},
		{name: "two identities", uris: []string{"triad://prod/n1", "triad://prod/n2"}},
		{name: "same identity twice", uris: []string{"triad://prod/n1", "triad://prod/n1"}},
		{name: "bad cluster name", raw: &url.URL{Scheme: "triad", Host: "pr od", Path: "/n1"}},
		{name: "no cluster", raw: &url.URL{Scheme: "triad", Path: "/n1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cert := &x509.Certificate{URIs: parse(t, c.uris...)}
			if c.raw != nil {
				cert.URIs = []*url.URL{c.raw}
			}
			cluster, node, ok := Identity(cert)
			switch {
			case ok != c.ok:
				t.Errorf("Identity(%v) = %q, %q, %v; want ok %v", cert.URIs, cluster, node, ok, c.ok)
			case ok && (cluster != "prod" || node != "n1"):
				t.Errorf("Identity(%v) = %q, %q", cert.URIs, cluster, node)
			case !ok && (cluster != "" || node != ""):
				t.Errorf("Identity(%v) = %q, %q, false; want empty names", cert.URIs, cluster, node)
			}
		})
	}
}
