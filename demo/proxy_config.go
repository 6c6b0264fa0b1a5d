package demo

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/triadmq/triad/lbagent"
)

// Backend is the HAProxy backend holding the demo's nodes, one server per
// node named after it (haproxy.backend in lbagent.yaml).
const Backend = "triad"

// AgentReconcileInterval is the agent's reconcile_interval in the demo. It
// also bounds how late the agent sees a new leader when its etcd watch sits
// on a frozen member (a SIGSTOPped leader's): such a watch never ends by
// itself, and the periodic read is what notices the new leader.
const AgentReconcileInterval = "250ms"

// maxSocketPath bounds the length of the stats socket's path: a unix
// socket address holds 107 bytes, and HAProxy binds PATH.<pid>.tmp first
// and renames it, so it refuses paths longer than about 95.
const maxSocketPath = 95

// haproxyTemplate is DIR/haproxy/haproxy.cfg. packaging/haproxy/haproxy.cfg
// is the production example and explains every choice; this one differs
// where the demo needs it: loopback addresses, one HTTP port per node, no
// daemon/user/chroot (the demo runs `haproxy -db` as a child it
// supervises), its log on stderr (DIR/haproxy/haproxy.log), no TLS.
var haproxyTemplate = template.Must(template.New("haproxy.cfg").Parse(`# Written by ` + "`triad demo`" + `, which rewrites it at every start.
#
# Clients connect to the frontend mqtt; HAProxy sends them to the one node
# that leads. triad-lbagent ({{.AgentConfig}}) watches the leader key
# in etcd and, through the stats socket, keeps the leader's server ready and
# the others in maint (shutting their sessions down, so clients reconnect at
# once). The health checks (GET /leader on each node's HTTP port answers 200
# only on the leader) are the second line, enough on their own.
# packaging/haproxy/haproxy.cfg is the production example.

global
    # One line per client connection (level info only: in the foreground,
    # -db, HAProxy prints its own warnings to stderr already).
    log stderr format raw local0 info info
    stats socket {{.Socket}} mode 600 level admin
    stats timeout 30s
    # Runtime server states survive a reload if "show servers state" is
    # saved here just before it; the demo starts with an empty one.
    server-state-file {{.StateFile}}
    maxconn 2000

defaults
    log global
    mode tcp
    option tcplog
    option dontlognull
    # Loopback connects are instant. A refused connect (a new leader's
    # server is made ready when its leader key appears, a few ms before it
    # opens its MQTT listener) is retried after min(1s, timeout connect).
    timeout connect 200ms
    # MQTT connections are long-lived and mostly idle.
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout client-fin 10s
    timeout server-fin 10s
    timeout check 400ms
    option clitcpka
    option srvtcpka
    retries 3
    option redispatch 1
    load-server-state-from-file global

frontend mqtt
    bind {{.Frontend}}
    default_backend {{.Backend}}

backend {{.Backend}}
    option httpchk GET /leader
    http-check expect status 200
    # A dead or fenced leader is marked down after two failed probes
    # (about 1 s); a new leader is up after one good probe. downinter is
    # short because the agent readies a new leader's server as soon as its
    # leader key appears: a probe that comes before its GET /leader answers
    # 200 marks it down again, until the next probe.
    default-server inter 500ms fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions
    # send-proxy-v2: each connection to a node starts with a PROXY v2
    # header naming the client, whom the node then logs and rate-limits
    # (its listener trusts 127.0.0.1: proxy_protocol). The health checks,
    # on their own port, carry none.
{{- range .Servers}}
    server {{.Name}} {{.MQTT}} check port {{.HTTPPort}} send-proxy-v2
{{- end}}
`))

type haproxyServer struct {
	Name, MQTT, HTTPPort string
}

// HAProxyConfig renders DIR/haproxy/haproxy.cfg: a tcp frontend on
// Proxy.MQTTAddr, the backend triad with one server per node (its MQTT
// address, sent a PROXY v2 header, health-checked with GET /leader on its
// HTTP port), the stats
// socket at level admin and the server-state-file. It fails if the socket
// path is too long for a unix socket (choose a shorter directory).
func (l *Layout) HAProxyConfig() ([]byte, error) {
	if n := len(l.Proxy.Socket); n > maxSocketPath {
		return nil, fmt.Errorf("demo: the HAProxy socket path %s is %d bytes long; HAProxy takes at most about %d: use a shorter --dir",
			l.Proxy.Socket, n, maxSocketPath)
	}
	data := struct {
		AgentConfig, Socket, StateFile, Frontend, Backend string
		Servers                                           []haproxyServer
	}{
		AgentConfig: l.Proxy.AgentConfigPath, Socket: l.Proxy.Socket, StateFile: l.Proxy.StateFile,
		Frontend: l.Proxy.MQTTAddr, Backend: Backend,
	}
	for _, n := range l.Nodes {
		_, port, err := net.SplitHostPort(n.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("demo: %s http address %q: %w", n.Name, n.HTTPAddr, err)
		}
		data.Servers = append(data.Servers, haproxyServer{Name: n.Name, MQTT: n.MQTTAddr, HTTPPort: port})
	}
	var b bytes.Buffer
	if err := haproxyTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("demo: render %s: %w", l.Proxy.ConfigPath, err)
	}
	return b.Bytes(), nil
}

// The lbagent.yaml the demo writes, in the file's key order.
type (
	agentFile struct {
		Cluster           string            `yaml:"cluster"`
		Etcd              agentEtcd         `yaml:"etcd"`
		HAProxy           agentHAProxy      `yaml:"haproxy"`
		Servers           map[string]string `yaml:"servers"`
		ReconcileInterval string            `yaml:"reconcile_interval"`
		Log               fileLog           `yaml:"log"`
	}
	agentEtcd struct {
		Endpoints []string `yaml:"endpoints"`
	}
	agentHAProxy struct {
		Socket  string `yaml:"socket"`
		Backend string `yaml:"backend"`
	}
)

// AgentConfig renders DIR/lbagent.yaml, triad-lbagent's config: the
// cluster, its etcd members, the HAProxy socket and backend, node nN →
// server nN, and checks it with lbagent.ParseConfig.
func (l *Layout) AgentConfig() ([]byte, error) {
	f := agentFile{
		Cluster:           l.Cluster,
		Etcd:              agentEtcd{Endpoints: l.EtcdEndpoints()},
		HAProxy:           agentHAProxy{Socket: l.Proxy.Socket, Backend: Backend},
		Servers:           map[string]string{},
		ReconcileInterval: AgentReconcileInterval,
		Log:               fileLog{Level: "info"},
	}
	for _, n := range l.Nodes {
		f.Servers[n.Name] = n.Name
	}
	b := bytes.NewBufferString(configHeader)
	enc := yaml.NewEncoder(b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("demo: render %s: %w", l.Proxy.AgentConfigPath, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("demo: render %s: %w", l.Proxy.AgentConfigPath, err)
	}
	if _, err := lbagent.ParseConfig(b.Bytes(), l.Proxy.AgentConfigPath); err != nil {
		return nil, fmt.Errorf("demo: the triad-lbagent config is invalid: %w", err)
	}
	return b.Bytes(), nil
}

// emptyServerState is a server-state-file holding no server: HAProxy
// warns about a missing or empty one.
const emptyServerState = "1\n"

// WriteProxyFiles writes DIR/haproxy/haproxy.cfg (HAProxyConfig, or
// HAProxyDynsecConfig in dynsec mode) and, in full mode, DIR/lbagent.yaml
// (AgentConfig), and an empty DIR/haproxy/server-state if there is none.
func (l *Layout) WriteProxyFiles() error {
	render := l.HAProxyConfig
	if l.Dynsec() {
		render = l.HAProxyDynsecConfig // all nodes, sticky, and no agent
	}
	cfg, err := render()
	if err != nil {
		return err
	}
	var agent []byte
	if !l.Dynsec() {
		if agent, err = l.AgentConfig(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(l.Proxy.Dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(l.Proxy.ConfigPath, cfg, 0o644); err != nil {
		return fmt.Errorf("demo: write config: %w", err)
	}
	if agent != nil {
		if err := os.WriteFile(l.Proxy.AgentConfigPath, agent, 0o644); err != nil {
			return fmt.Errorf("demo: write config: %w", err)
		}
	}
	f, err := os.OpenFile(l.Proxy.StateFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("demo: server state file: %w", err)
	}
	_, err = f.WriteString(emptyServerState)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demo: server state file %s: %w", l.Proxy.StateFile, err)
	}
	return nil
}
