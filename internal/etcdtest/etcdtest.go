// Package etcdtest runs a real single-member etcd inside a test process.
package etcdtest

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a running etcd member and a client of it.
type Server struct {
	URL    string // client URL
	Client *clientv3.Client
	Etcd   *embed.Etcd
}

// Start runs a single-member etcd (fast timings, no fsync) for the test;
// it and its client are closed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	// FreeAddr's port is free when it looks, not when etcd binds it: a
	// test running alongside can take it in between. Try fresh ports.
	const attempts = 5
	for i := 1; ; i++ {
		s, err := start(t)
		if err == nil {
			return s
		}
		inUse := errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
		if !inUse || i == attempts {
			t.Fatalf("start etcd: %v", err)
		}
	}
}

// start starts one embedded etcd on fresh ports.
func start(t testing.TB) (*Server, error) {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop()) // its shutdown chatter is not news
	cfg.TickMs, cfg.ElectionMs = 50, 500
	cfg.UnsafeNoFsync = true
	peer := url.URL{Scheme: "http", Host: FreeAddr(t)}
	client := url.URL{Scheme: "http", Host: FreeAddr(t)}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready after 30s")
	}
	return &Server{URL: client.String(), Client: NewClient(t, client.String()), Etcd: e}, nil
}

// NewClient returns a client of the etcd at url, closed when the test ends.
func NewClient(t testing.TB, url string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() }) // a test client: nothing pending to lose
	return c
}

// FreeAddr returns a free 127.0.0.1 host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Ctx is a context for one test step: 20 s, ended with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
