package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake connects a TLS client to a TLS server over loopback and returns
// each side's error (a client that finished its handshake also reads the
// server's first byte, so it sees a rejection that TLS 1.3 sends after the
// client's Finished) and, on success, the identity each saw of its peer.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, serverSaw, clientSaw string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, ln)
	type result struct {
		err  error
		peer string
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		s := tls.Server(c, server)
		err = c.SetDeadline(time.Now().Add(10 * time.Second))
		if err == nil {
			err = s.Handshake()
		}
		var peer string
		if err == nil {
			peer = peerIdentity(s.ConnectionState())
			_, err = s.Write([]byte{1})
		}
		done <- result{err, peer}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		clientSaw = peerIdentity(tc.ConnectionState())
		_, clientErr = io.ReadFull(tc, make([]byte, 1))
	}
	r := <-done
	return r.err, clientErr, r.peer, clientSaw
}

func closeOrFail(t *testing.T, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Error(err)
	}
}

func peerIdentity(cs tls.ConnectionState) string {
	cluster, node, ok := Identity(cs.PeerCertificates[0])
	if !ok {
		return "none"
	}
	return cluster + "/" + node
}

func loadPair(t *testing.T, dir, node string) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile(node)), filepath.Join(dir, KeyFile(node)))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TestHandshake runs mutual TLS between node certificates: the same
// certificate serves as server and as client, and one from another CA
// (even of the same cluster name) is refused either way.
func TestHandshake(t *testing.T) {
	nodes := []NodeSpec{{Name: "n1", Hosts: []string{"127.0.0.1", "n1.triad.test"}}, {Name: "n2", Hosts: []string{"127.0.0.1"}}}
	dir, rogue := t.TempDir(), t.TempDir()
	mustInit(t, InitOptions{Dir: dir, Cluster: "prod", Nodes: nodes, Now: time.Now})
	mustInit(t, InitOptions{Dir: rogue, Cluster: "prod", Nodes: nodes, Now: time.Now})
	pool, roguePool := caPool(t, dir), caPool(t, rogue)
	serverCfg := func(pair tls.Certificate, pool *x509.CertPool) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair},
			ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	}
	clientCfg := func(pair *tls.Certificate, pool *x509.CertPool, serverName string) *tls.Config {
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: serverName}
		if pair != nil {
			cfg.Certificates = []tls.Certificate{*pair}
		}
		return cfg
	}
	n1, n2, rogue2 := loadPair(t, dir, "n1"), loadPair(t, dir, "n2"), loadPair(t, rogue, "n2")

	for _, c := range []struct {
		name                 string
		server, client       *tls.Config
		serverErr, clientErr string // "" means success
	}{
		{name: "n2 follows n1", server: serverCfg(n1, pool), client: clientCfg(&n2, pool, "127.0.0.1")},
		{name: "n1 follows n2", server: serverCfg(n2, pool), client: clientCfg(&n1, pool, "127.0.0.1")},
		{name: "by DNS name", server: serverCfg(n1, pool), client: clientCfg(&n2, pool, "n1.triad.test")},
		{name: "client of another CA", server: serverCfg(n1, pool), client: clientCfg(&rogue2, pool, "127.0.0.1"),
			serverErr: "certificate signed by unknown authority", clientErr: "remote error"},
		{name: "server of another CA", server: serverCfg(rogue2, roguePool), client: clientCfg(&n1, pool, "127.0.0.1"),
			serverErr: "remote error", clientErr: "certificate signed by unknown authority"},
		{name: "client without certificate", server: serverCfg(n1, pool), client: clientCfg(nil, pool, "127.0.0.1"),
			serverErr: "client didn't provide a certificate", clientErr: "remote error"},
		{name: "host not in the certificate", server: serverCfg(n2, pool), client: clientCfg(&n1, pool, "n1.triad.test"),
			serverErr: "remote error", clientErr: "wanted to match n1.triad.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			serverErr, clientErr, serverSaw, clientSaw := handshake(t, c.server, c.client)
			checkErr(t, "server", serverErr, c.serverErr)
			checkErr(t, "client", clientErr, c.clientErr)
			if c.serverErr == "" && (serverSaw == "none" || clientSaw == "none" || serverSaw == clientSaw) {
				t.Errorf("server saw %s, client saw %s", serverSaw, clientSaw)
			}
		})
	}
}

func checkErr(t *testing.T, side string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v", side, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s: error %v, want one with %q", side, err, want)
	}
}
