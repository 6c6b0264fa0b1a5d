package demo

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/internal/pki"
)

// Defaults of `triad demo`.
const (
	DefaultDir      = "triad-demo"
	DefaultBasePort = 21883
	DefaultCluster  = "demo"
)

// Host is the address every demo node listens on.
const Host = "127.0.0.1"

// Port offsets: node i (0, 1, 2) uses base+Stride*i+offset; HAProxy's
// MQTT frontend, the one address clients use, is base+OffsetProxyMQTT.
const (
	Stride           = 10
	OffsetMQTT       = 0
	OffsetHTTP       = 1
	OffsetEtcdClient = 2
	OffsetEtcdPeer   = 3
	OffsetRepl       = 4
	OffsetProxyMQTT  = 3 * Stride          // after the three nodes' blocks
	spanPorts        = OffsetProxyMQTT + 1 // base .. base+30
)

// Timings of the demo cluster, short for a fast failover.
const (
	EtcdTick            = "50ms"  // cluster.etcd.embedded.tick
	EtcdElectionTimeout = "500ms" // cluster.etcd.embedded.election_timeout
	LeaseTTL            = "2s"    // cluster.lease_ttl: at least 4 etcd election timeouts, so an etcd leader change never outlasts the fence
	FenceMargin         = "500ms" // cluster.fence_margin
)

// ManifestFile is the name of the manifest in the demo directory.
const ManifestFile = "demo.json"

// NodeNames are the demo nodes, in port order.
var NodeNames = []string{"n1", "n2", "n3"}

// Node is where one demo node lives: its files and addresses.
type Node struct {
	Name          string // n1, n2, n3
	Dir           string // DIR/nN: config, log and data
	DataDir       string // DIR/nN/data (node.data_dir; etcd's data in its etcd/)
	ConfigPath    string // DIR/nN/triad.yaml
	LogPath       string // DIR/nN/triad.log: the child's stdout and stderr
	MQTTAddr      string // host:port of the MQTT listener
	HTTPAddr      string // host:port of the HTTP endpoints
	EtcdClientURL string // the embedded etcd member's client URL
	EtcdPeerURL   string // its peer URL
	ReplAddr      string // the replication address (cluster.replication.address)
	CertPath      string // DIR/certs/nN.pem: its replication certificate
	KeyPath       string // DIR/certs/nN-key.pem: its key
	DynsecPath    string // DIR/nN/dynamic-security.json: dynsec.file, seeded by the demo
}

// ProxyLayout is where HAProxy and triad-lbagent, in front of the nodes,
// listen and keep their files (see WriteProxyFiles).
type ProxyLayout struct {
	MQTTAddr        string // host:port of HAProxy's MQTT frontend: the one address clients use
	Dir             string // DIR/haproxy
	ConfigPath      string // DIR/haproxy/haproxy.cfg
	Socket          string // DIR/haproxy/admin.sock: the Runtime API (stats socket, level admin)
	StateFile       string // DIR/haproxy/server-state: server-state-file
	LogPath         string // DIR/haproxy/haproxy.log: HAProxy's stderr (its log, connections included)
	AgentConfigPath string // DIR/lbagent.yaml
	AgentLogPath    string // DIR/lbagent.log: triad-lbagent's stdout and stderr
}

// Layout is a demo cluster on one machine: three nodes, their ports and
// files under one directory (absolute), and HAProxy in front of them.
type Layout struct {
	Dir      string
	Cluster  string
	BasePort int
	Nodes    []Node
	CertsDir string // DIR/certs: the replication CA and node certificates
	Proxy    ProxyLayout
	// AdminPassword is the password of the dynsec user AdminUser, made
	// once per directory (DIR/admin-password) by Plan.
	AdminPassword string
	// Mode is the cluster's cluster.mode: full ("" too) or dynsec. In
	// dynsec mode every node serves, HAProxy spreads the clients over all
	// three and sticks each to its node (HAProxyDynsecConfig), and no
	// triad-lbagent runs.
	Mode string
}

// modeName is the cluster.mode of the layout, "full" when unset.
func (l *Layout) modeName() string {
	if l.Mode == "" {
		return config.ModeFull
	}
	return l.Mode
}

// Dynsec says whether the cluster runs in cluster.mode dynsec.
func (l *Layout) Dynsec() bool { return l.Mode == config.ModeDynsec }

// CAPath is the replication CA every node trusts.
func (l *Layout) CAPath() string { return filepath.Join(l.CertsDir, "ca.pem") }

// Port is one port the demo listens on.
type Port struct {
	Port int
	Node string // n1, n2, n3, or haproxy
	Use  string // mqtt, http, etcd client, etcd peer, replication
}

func (p Port) String() string {
	return fmt.Sprintf("port %d (%s %s)", p.Port, p.Node, p.Use)
}

// NewLayout computes the paths and ports of a demo cluster in dir with
// ports from basePort; it touches no file. See Plan.
func NewLayout(dir string, basePort int, cluster string) (*Layout, error) {
	if basePort < 1 || basePort+spanPorts-1 > 65535 {
		return nil, fmt.Errorf("demo: base port %d out of range: the demo uses ports base to base+%d, so base must be 1..%d",
			basePort, spanPorts-1, 65535-spanPorts+1)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("demo: directory %q: %w", dir, err)
	}
	l := &Layout{Dir: abs, Cluster: cluster, BasePort: basePort, CertsDir: filepath.Join(abs, "certs")}
	for i, name := range NodeNames {
		port := func(off int) string { return strconv.Itoa(basePort + Stride*i + off) }
		nd := filepath.Join(abs, name)
		l.Nodes = append(l.Nodes, Node{
			Name:          name,
			Dir:           nd,
			DataDir:       filepath.Join(nd, "data"),
			ConfigPath:    filepath.Join(nd, "triad.yaml"),
			LogPath:       filepath.Join(nd, "triad.log"),
			MQTTAddr:      net.JoinHostPort(Host, port(OffsetMQTT)),
			HTTPAddr:      net.JoinHostPort(Host, port(OffsetHTTP)),
			EtcdClientURL: "http://" + net.JoinHostPort(Host, port(OffsetEtcdClient)),
			EtcdPeerURL:   "http://" + net.JoinHostPort(Host, port(OffsetEtcdPeer)),
			ReplAddr:      net.JoinHostPort(Host, port(OffsetRepl)),
			CertPath:      filepath.Join(l.CertsDir, name+".pem"),
			KeyPath:       filepath.Join(l.CertsDir, name+"-key.pem"),
			DynsecPath:    filepath.Join(nd, "dynamic-security.json"),
		})
	}
	hd := filepath.Join(abs, "haproxy")
	l.Proxy = ProxyLayout{
		MQTTAddr:        net.JoinHostPort(Host, strconv.Itoa(basePort+OffsetProxyMQTT)),
		Dir:             hd,
		ConfigPath:      filepath.Join(hd, "haproxy.cfg"),
		Socket:          filepath.Join(hd, "admin.sock"),
		StateFile:       filepath.Join(hd, "server-state"),
		LogPath:         filepath.Join(hd, "haproxy.log"),
		AgentConfigPath: filepath.Join(abs, "lbagent.yaml"),
		AgentLogPath:    filepath.Join(abs, "lbagent.log"),
	}
	return l, nil
}

// Plan lays out a demo cluster (NewLayout) and writes each node's
// triad.yaml, creating the directories. Every config is checked with
// config.Parse before it is written. An existing directory is reused: its
// data stays, its configs are rewritten. Plan refuses a directory whose
// etcd members were created on other ports (etcd keeps its members' peer
// URLs in its data, so the cluster could not form).
func Plan(dir string, basePort int, cluster string) (*Layout, error) {
	return PlanMode(dir, basePort, cluster, config.ModeFull)
}

// PlanMode is Plan for a cluster in cluster.mode mode (full or dynsec).
// A directory holding a cluster of the other mode is refused: the two keep
// different state in the same files.
func PlanMode(dir string, basePort int, cluster, mode string) (*Layout, error) {
	l, err := NewLayout(dir, basePort, cluster)
	if err != nil {
		return nil, err
	}
	switch mode {
	case config.ModeFull:
	case config.ModeDynsec:
		l.Mode = mode
	default:
		return nil, fmt.Errorf("demo: mode %q: must be %s or %s", mode, config.ModeFull, config.ModeDynsec)
	}
	if err := l.checkReuse(); err != nil {
		return nil, err
	}
	if err := config.CheckClusterName(cluster); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := l.writeCerts(); err != nil {
		return nil, err
	}
	if err := l.writeDynsec(); err != nil {
		return nil, err
	}
	for _, n := range l.Nodes {
		data, err := l.NodeConfig(n)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := os.WriteFile(n.ConfigPath, data, 0o644); err != nil {
			return nil, fmt.Errorf("demo: write config: %w", err)
		}
	}
	return l, nil
}

// writeCerts makes the replication certificates: a CA (kept if the
// directory has one) and a certificate for each node, valid for the demo's
// host, renewed at every start.
func (l *Layout) writeCerts() error {
	o := pki.InitOptions{Dir: l.CertsDir, Cluster: l.Cluster, Force: true}
	for _, n := range l.Nodes {
		o.Nodes = append(o.Nodes, pki.NodeSpec{Name: n.Name, Hosts: []string{Host, "localhost"}})
	}
	if _, err := pki.Init(o); err != nil {
		return fmt.Errorf("demo: replication certificates: %w", err)
	}
	return nil
}

// checkReuse fails if the directory's manifest names other etcd URLs and
// a node already has data.
func (l *Layout) checkReuse() error {
	m, err := ReadManifest(l.ManifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Mode == "" { // written before modes existed
		m.Mode = config.ModeFull
	}
	if m.Mode != l.modeName() && l.hasData() {
		return fmt.Errorf("demo: %s holds a cluster made with --mode %s: use that mode again, or another --dir (the modes keep different state in the same files)",
			l.Dir, m.Mode)
	}
	if slices.Equal(m.Etcd, l.EtcdEndpoints()) {
		return nil
	}
	for _, n := range l.Nodes {
		if _, err := os.Stat(n.DataDir); err == nil {
			return fmt.Errorf("demo: %s holds a cluster made with --base-port %s (etcd members at %s): use that base port again, or another --dir",
				l.Dir, oldBase(m.Etcd), strings.Join(m.Etcd, ", "))
		}
	}
	return nil
}

// hasData says whether a node's data directory exists.
func (l *Layout) hasData() bool {
	for _, n := range l.Nodes {
		if _, err := os.Stat(n.DataDir); err == nil {
			return true
		}
	}
	return false
}

// oldBase is the base port of a layout whose etcd client URLs are eps.
func oldBase(eps []string) string {
	if len(eps) > 0 {
		if u, err := url.Parse(eps[0]); err == nil {
			if p, err := strconv.Atoi(u.Port()); err == nil {
				return strconv.Itoa(p - OffsetEtcdClient)
			}
		}
	}
	return "?"
}

// Node returns the node called name.
func (l *Layout) Node(name string) (Node, bool) {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

func (l *Layout) nodeNames() []string {
	names := make([]string, len(l.Nodes))
	for i, n := range l.Nodes {
		names[i] = n.Name
	}
	return names
}

// ManifestPath is DIR/demo.json.
func (l *Layout) ManifestPath() string { return filepath.Join(l.Dir, ManifestFile) }

// EtcdEndpoints are the client URLs of the three etcd members.
func (l *Layout) EtcdEndpoints() []string {
	eps := make([]string, len(l.Nodes))
	for i, n := range l.Nodes {
		eps[i] = n.EtcdClientURL
	}
	return eps
}

// Ports lists every port the demo listens on: the nodes' (NodePorts),
// then HAProxy's MQTT frontend.
func (l *Layout) Ports() []Port {
	return append(l.NodePorts(), Port{l.BasePort + OffsetProxyMQTT, "haproxy", "mqtt"})
}

// NodePorts lists the ports of the nodes, node by node.
func (l *Layout) NodePorts() []Port {
	var ps []Port
	for i, n := range l.Nodes {
		b := l.BasePort + Stride*i
		ps = append(ps,
			Port{b + OffsetMQTT, n.Name, "mqtt"},
			Port{b + OffsetHTTP, n.Name, "http"},
			Port{b + OffsetEtcdClient, n.Name, "etcd client"},
			Port{b + OffsetEtcdPeer, n.Name, "etcd peer"},
			Port{b + OffsetRepl, n.Name, "replication"})
	}
	return ps
}

// CheckPorts tries to listen on every port of the layout (Ports) and
// returns an error naming each one that is busy.
func (l *Layout) CheckPorts() error { return checkPorts(l.Ports()) }

// checkPorts tries to listen on each of ps and returns an error naming
// each one that is busy.
func checkPorts(ps []Port) error {
	var errs []error
	for _, p := range ps {
		ln, err := net.Listen("tcp", net.JoinHostPort(Host, strconv.Itoa(p.Port)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s is busy: %w", p, err))
			continue
		}
		if err := ln.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close probe: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("demo: a port the demo needs on %s is in use (stop what holds it or choose another --base-port):\n%w",
			Host, errors.Join(errs...))
	}
	return nil
}

// FreeBasePort returns a base port under the kernel's usual ephemeral
// range (20000..31999) whose demo ports were all free a moment ago.
func FreeBasePort() (int, error) {
	const lo, hi = 20000, 32000 - spanPorts
	start := lo + rand.IntN(hi-lo)
	for i := 0; i < hi-lo; i += spanPorts {
		base := lo + (start-lo+i)%(hi-lo)
		l, err := NewLayout(os.TempDir(), base, DefaultCluster)
		if err != nil {
			return 0, err
		}
		if l.CheckPorts() == nil {
			return base, nil
		}
	}
	return 0, fmt.Errorf("demo: no free base port in %d..%d", lo, hi)
}

// The subset of a triad.yaml the demo writes, in the file's key order.
type (
	nodeFile struct {
		Node    fileNode    `yaml:"node"`
		Cluster fileCluster `yaml:"cluster"`
		MQTT    fileMQTT    `yaml:"mqtt"`
		HTTP    fileHTTP    `yaml:"http"`
		Dynsec  fileDynsec  `yaml:"dynsec"`
		Log     fileLog     `yaml:"log"`
	}
	fileDynsec struct {
		Enabled        bool   `yaml:"enabled"`
		AllowAnonymous bool   `yaml:"allow_anonymous"`
		File           string `yaml:"file"`
	}
	fileNode struct {
		Name    string `yaml:"name"`
		DataDir string `yaml:"data_dir"`
	}
	fileCluster struct {
		Name        string   `yaml:"name"`
		Mode        string   `yaml:"mode,omitempty"`
		LeaseTTL    string   `yaml:"lease_ttl"`
		FenceMargin string   `yaml:"fence_margin"`
		Etcd        fileEtcd `yaml:"etcd"`
		Replication fileRepl `yaml:"replication"`
	}
	fileRepl struct {
		Address string  `yaml:"address"`
		TLS     fileTLS `yaml:"tls"`
	}
	fileTLS struct {
		CA   string `yaml:"ca"`
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	}
	fileEtcd struct {
		Embedded fileEmbedded `yaml:"embedded"`
	}
	fileEmbedded struct {
		ClientURL       string              `yaml:"client_url"`
		PeerURL         string              `yaml:"peer_url"`
		InitialCluster  []config.EtcdMember `yaml:"initial_cluster"`
		Tick            string              `yaml:"tick"`
		ElectionTimeout string              `yaml:"election_timeout"`
	}
	fileMQTT struct {
		Listeners []fileListener `yaml:"listeners"`
	}
	fileListener struct {
		Type          string            `yaml:"type"`
		Address       string            `yaml:"address"`
		ProxyProtocol fileProxyProtocol `yaml:"proxy_protocol"`
	}
	fileProxyProtocol struct {
		Trusted []string `yaml:"trusted"`
	}
	fileHTTP struct {
		Address string `yaml:"address"`
	}
	fileLog struct {
		Level string `yaml:"level"`
	}
)

const configHeader = "# Written by `triad demo`, which rewrites it at every start.\n"

// NodeConfig renders n's triad.yaml and checks it with config.Parse.
func (l *Layout) NodeConfig(n Node) ([]byte, error) {
	var members []config.EtcdMember
	for _, m := range l.Nodes {
		members = append(members, config.EtcdMember{Name: m.Name, PeerURL: m.EtcdPeerURL})
	}
	f := nodeFile{
		Node: fileNode{Name: n.Name, DataDir: n.DataDir},
		Cluster: fileCluster{
			Name: l.Cluster, Mode: l.Mode, LeaseTTL: LeaseTTL, FenceMargin: FenceMargin,
			Etcd: fileEtcd{Embedded: fileEmbedded{
				ClientURL: n.EtcdClientURL, PeerURL: n.EtcdPeerURL, InitialCluster: members,
				Tick: EtcdTick, ElectionTimeout: EtcdElectionTimeout,
			}},
			Replication: fileRepl{Address: n.ReplAddr, TLS: fileTLS{CA: l.CAPath(), Cert: n.CertPath, Key: n.KeyPath}},
		},
		// HAProxy, on this host, names each client in a PROXY header
		// (send-proxy-v2 in haproxy.cfg).
		MQTT: fileMQTT{Listeners: []fileListener{{Type: "tcp", Address: n.MQTTAddr,
			ProxyProtocol: fileProxyProtocol{Trusted: []string{Host + "/32"}}}}},
		HTTP:   fileHTTP{Address: n.HTTPAddr},
		Dynsec: fileDynsec{Enabled: true, AllowAnonymous: true, File: n.DynsecPath},
		Log:    fileLog{Level: "info"},
	}
	b := bytes.NewBufferString(configHeader)
	enc := yaml.NewEncoder(b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("demo: render %s: %w", n.ConfigPath, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("demo: render %s: %w", n.ConfigPath, err)
	}
	if _, err := config.Parse(b.Bytes(), n.ConfigPath); err != nil {
		return nil, fmt.Errorf("demo: the config for %s is invalid: %w", n.Name, err)
	}
	return b.Bytes(), nil
}
