// Command etcdmember runs one etcd member for the chaos harness (package
// chaos), which starts three of them, each in a network namespace of its
// own: embedded etcd with the demo's timings (tick 50ms, election 500ms),
// client URL http://IP:2379, peer URL http://IP:2380, until SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

func main() {
	name := flag.String("name", "", "member name")
	dir := flag.String("dir", "", "data directory")
	ip := flag.String("ip", "", "address to listen on")
	cluster := flag.String("cluster", "", "initial cluster: name=peer URL,…")
	flag.Parse()
	if err := run(*name, *dir, *ip, *cluster); err != nil {
		slog.Error("etcd member", "name", *name, "error", err)
		os.Exit(1)
	}
}

func run(name, dir, ip, cluster string) error {
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir, cfg.InitialCluster = name, dir, cluster
	cfg.InitialClusterToken = "triad-chaos"
	cfg.LogLevel = "warn"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.TickMs, cfg.ElectionMs = 50, 500
	peer, err := url.Parse("http://" + ip + ":2380")
	if err != nil {
		return err
	}
	client, err := url.Parse("http://" + ip + ":2379")
	if err != nil {
		return err
	}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	if _, err := os.Stat(filepath.Join(dir, "member")); err == nil {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer e.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-e.Server.ReadyNotify():
		slog.Info("etcd member ready", "name", name, "client", client.String(), "peer", peer.String())
	case s := <-sig:
		return fmt.Errorf("%v before ready", s)
	}
	select {
	case err := <-e.Err():
		return err
	case <-sig:
		return nil
	}
}
