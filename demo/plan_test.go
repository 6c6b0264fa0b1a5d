package demo

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triadmq/triad/config"
)

func TestNewLayoutPortsAndPaths(t *testing.T) {
	l, err := NewLayout("rel/dir", 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(l.Dir) || !strings.HasSuffix(l.Dir, filepath.Join("rel", "dir")) {
		t.Errorf("Dir %q: want an absolute path ending in rel/dir", l.Dir)
	}
	want := []struct{ mqtt, http, client, peer string }{
		{"127.0.0.1:21883", "127.0.0.1:21884", "http://127.0.0.1:21885", "http://127.0.0.1:21886"},
		{"127.0.0.1:21893", "127.0.0.1:21894", "http://127.0.0.1:21895", "http://127.0.0.1:21896"},
		{"127.0.0.1:21903", "127.0.0.1:21904", "http://127.0.0.1:21905", "http://127.0.0.1:21906"},
	}
	if len(l.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(l.Nodes))
	}
	for i, n := range l.Nodes {
		t.Run(n.Name, func(t *testing.T) {
			if n.Name != fmt.Sprintf("n%d", i+1) {
				t.Errorf("name %q", n.Name)
			}
			w := want[i]
			got := []string{n.MQTTAddr, n.HTTPAddr, n.EtcdClientURL, n.EtcdPeerURL}
			if !reflect.DeepEqual(got, []string{w.mqtt, w.http, w.client, w.peer}) {
				t.Errorf("addresses %v, want %+v", got, w)
			}
			dir := filepath.Join(l.Dir, n.Name)
			paths := []string{n.Dir, n.DataDir, n.ConfigPath, n.LogPath}
			wantPaths := []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "triad.yaml"), filepath.Join(dir, "triad.log")}
			if !reflect.DeepEqual(paths, wantPaths) {
				t.Errorf("paths %v, want %v", paths, wantPaths)
			}
		})
	}
	ports := l.Ports()
	if len(ports) != 16 || ports[0] != (Port{21883, "n1", "mqtt"}) || ports[14] != (Port{21907, "n3", "replication"}) ||
		ports[15] != (Port{21913, "haproxy", "mqtt"}) {
		t.Errorf("Ports() = %v", ports)
	}
	if np := l.NodePorts(); !reflect.DeepEqual(np, ports[:15]) {
		t.Errorf("NodePorts() = %v, want the first 15 of Ports()", np)
	}
	if l.Proxy.MQTTAddr != "127.0.0.1:21913" {
		t.Errorf("HAProxy's MQTT frontend %q", l.Proxy.MQTTAddr)
	}
	if got := l.ManifestPath(); got != filepath.Join(l.Dir, "demo.json") {
		t.Errorf("ManifestPath %q", got)
	}
}

func TestNewLayoutBasePortRange(t *testing.T) {
	tests := []struct {
		name string
		base int
		ok   bool
	}{
		{"zero", 0, false},
		{"negative", -5, false},
		{"lowest", 1, true},
		{"highest", 65535 - 30, true},
		{"last port (haproxy) beyond 65535", 65535 - 29, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLayout(t.TempDir(), tc.base, "demo")
			if (err == nil) != tc.ok {
				t.Fatalf("NewLayout(base %d): err %v, want ok=%v", tc.base, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tc.base)) {
				t.Errorf("error does not name the base port: %v", err)
			}
		})
	}
}

// TestPlanWritesValidConfigs: every config passes config.Load and says
// what the demo promises.
func TestPlanWritesValidConfigs(t *testing.T) {
	dir := t.TempDir()
	l, err := Plan(dir, 21883, "demo-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		t.Run(n.Name, func(t *testing.T) {
			cfg, err := config.Load(n.ConfigPath)
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			if cfg.Node.Name != n.Name || cfg.Node.DataDir != n.DataDir {
				t.Errorf("node %+v", cfg.Node)
			}
			if len(cfg.MQTT.Listeners) != 1 || cfg.MQTT.Listeners[0].Address != n.MQTTAddr || cfg.MQTT.Listeners[0].Type != "tcp" {
				t.Errorf("listeners %+v", cfg.MQTT.Listeners)
			} else if pp := cfg.MQTT.Listeners[0].ProxyProtocol; pp == nil || !reflect.DeepEqual(pp.Trusted, []string{"127.0.0.1/32"}) {
				t.Errorf("listener proxy_protocol %+v, want HAProxy's 127.0.0.1/32 trusted", pp)
			}
			if cfg.HTTP.Address != n.HTTPAddr {
				t.Errorf("http %q", cfg.HTTP.Address)
			}
			c := cfg.Cluster
			if c == nil || c.Etcd.Embedded == nil {
				t.Fatalf("no cluster with an embedded etcd: %+v", c)
			}
			e := c.Etcd.Embedded
			timings := []time.Duration{c.LeaseTTL.D(), c.FenceMargin.D(), e.Tick.D(), e.ElectionTimeout.D()}
			wantTimings := []time.Duration{2 * time.Second, 500 * time.Millisecond, 50 * time.Millisecond, 500 * time.Millisecond}
			if c.Name != "demo-1" || !reflect.DeepEqual(timings, wantTimings) {
				t.Errorf("cluster %q, timings %v, want demo-1 and %v", c.Name, timings, wantTimings)
			}
			if e.ClientURL != n.EtcdClientURL || e.PeerURL != n.EtcdPeerURL || e.InitialClusterState != "new" {
				t.Errorf("embedded %+v", e)
			}
			var members []config.EtcdMember
			for _, m := range l.Nodes {
				members = append(members, config.EtcdMember{Name: m.Name, PeerURL: m.EtcdPeerURL})
			}
			if !reflect.DeepEqual(e.InitialCluster, members) {
				t.Errorf("initial_cluster %+v, want %+v", e.InitialCluster, members)
			}
		})
	}
}

func TestPlanRejectsBadClusterName(t *testing.T) {
	_, err := Plan(t.TempDir(), 21883, "no spaces")
	if err == nil || !strings.Contains(err.Error(), "cluster.name") {
		t.Fatalf("Plan: %v, want an error naming cluster.name", err)
	}
}

// TestPlanReuse: the same directory may be planned again on the same
// ports; once a node has data, other ports are refused with the first base.
func TestPlanReuse(t *testing.T) {
	dir := t.TempDir()
	l, err := Plan(dir, 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteManifest(l.ManifestPath(), l.manifest(1, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(dir, 30000, "demo"); err != nil {
		t.Fatalf("no data yet, other ports: %v", err)
	}
	if err := os.MkdirAll(l.Nodes[1].DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(dir, 21883, "demo"); err != nil {
		t.Fatalf("same ports again: %v", err)
	}
	_, err = Plan(dir, 30000, "demo")
	if err == nil || !strings.Contains(err.Error(), "--base-port 21883") {
		t.Fatalf("other ports over data: %v, want an error naming --base-port 21883", err)
	}
}

func TestCheckPortsNamesBusyPort(t *testing.T) {
	base, err := FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLayout(t.TempDir(), base, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckPorts(); err != nil {
		t.Fatalf("free ports: %v", err)
	}
	busy := base + Stride + OffsetEtcdClient // n2's etcd client port
	ln, err := net.Listen("tcp", net.JoinHostPort(Host, strconv.Itoa(busy)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = l.CheckPorts()
	want := fmt.Sprintf("port %d (n2 etcd client) is busy", busy)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("CheckPorts: %v, want %q", err, want)
	}
	if strings.Count(err.Error(), "is busy") != 1 {
		t.Errorf("CheckPorts names other ports too: %v", err)
	}

	proxy, err := net.Listen("tcp", l.Proxy.MQTTAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	err = l.CheckPorts()
	want = fmt.Sprintf("port %d (haproxy mqtt) is busy", base+OffsetProxyMQTT)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("CheckPorts: %v, want %q", err, want)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	l, err := NewLayout(t.TempDir(), 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(l.ManifestPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing manifest: %v, want os.ErrNotExist", err)
	}
	m := l.manifest(7, map[string]int{"n1": 11, "n2": 12, "n3": 13})
	m.MQTT, m.HAProxyPID, m.HAProxySocket, m.LBAgentPID = l.Proxy.MQTTAddr, 21, l.Proxy.Socket, 22
	if err := WriteManifest(l.ManifestPath(), m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(l.ManifestPath())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, m) {
		t.Fatalf("read %+v, wrote %+v", got, m)
	}
	// The JSON names are a contract.
	data, err := os.ReadFile(l.ManifestPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cluster": "demo"`, `"etcd": [`, `"nodes": [`, `"name": "n2"`, `"pid": 12`,
		`"mqtt": "127.0.0.1:21893"`, `"http": "127.0.0.1:21894"`, `"config": "`, `"log": "`,
		`"demo_pid": 7`, `"mqtt": "127.0.0.1:21913"`, `"haproxy_pid": 21`, `"haproxy_socket": "` + l.Proxy.Socket + `"`, `"lbagent_pid": 22`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("demo.json lacks %s:\n%s", key, data)
		}
	}
	// Without HAProxy (--no-haproxy) its fields are absent.
	bare := l.manifest(7, nil)
	if err := WriteManifest(l.ManifestPath(), bare); err != nil {
		t.Fatal(err)
	}
	if data, err = os.ReadFile(l.ManifestPath()); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"haproxy_pid"`, `"haproxy_socket"`, `"lbagent_pid"`, `"mqtt": "127.0.0.1:21913"`} {
		if strings.Contains(string(data), key) {
			t.Errorf("demo.json without HAProxy has %s:\n%s", key, data)
		}
	}
	entries, err := os.ReadDir(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
