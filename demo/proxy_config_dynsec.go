package demo

import (
	"bytes"
	"fmt"
	"net"
	"text/template"
)

// haproxyDynsecTemplate is DIR/haproxy/haproxy.cfg of a demo in dynsec
// mode (cluster.mode: dynsec). packaging/haproxy/haproxy-dynsec.cfg is the
// production example and explains every choice; this one differs where
// the demo needs it, as haproxyTemplate does: loopback addresses, one
// HTTP port per node, no daemon/user/chroot, its log on stderr, no TLS,
// and no peers section (the demo restarts HAProxy, it never reloads it, so
// the stick table could not be handed over anyway). Its health checks
// are faster than production's, for a quick failover on one quiet machine.
var haproxyDynsecTemplate = template.Must(template.New("haproxy.cfg").Parse(`# Written by ` + "`triad demo --mode dynsec`" + `, which rewrites it at every start.
#
# Every node serves MQTT; only the dynamic security configuration is
# replicated, and a client's session stays on the node it connected to.
# HAProxy keeps all nodes in rotation (health checks: GET /ready on each
# node's HTTP port answers 200 on a node that may take clients) and sticks
# each client to its node, keyed on the client identifier of its CONNECT.
# A client whose node is down goes to another node, where it starts a new
# session. No triad-lbagent in this mode.
# packaging/haproxy/haproxy-dynsec.cfg is the production example.

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
    # Loopback connects are instant. A refused connect (a node just
    # killed, not yet marked down) is retried on another node after
    # min(1s, timeout connect).
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
    # Clients without an entry (new or empty identifiers, or whose node is
    # down) go to the node with the fewest connections.
    balance leastconn
    # Wait up to 5 s for the whole first packet; refuse the connection
    # unless it is an MQTT CONNECT (garbage, an incomplete CONNECT or
    # silence for 5 s: closed, no node sees it).
    tcp-request inspect-delay 5s
    tcp-request content reject unless { req.payload(0,0),mqtt_is_valid }
    # Hold the client's entry while it is connected: expire counts from
    # its disconnection. An empty identifier makes no entry.
    tcp-request content track-sc0 req.payload(0,0),mqtt_field_value(connect,client_identifier)
    # Client identifier (first 64 bytes) -> the node holding its session,
    # by name; forgotten 24 days after the client last disconnected.
    stick-table type string len 64 size 512k expire 24d srvkey name
    # The entry's node if it is up, else leastconn's choice, which is then
    # recorded: a redispatched client stays on its new node.
    stick on req.payload(0,0),mqtt_field_value(connect,client_identifier)
    option httpchk GET /ready
    http-check expect status 200
    # A node is marked down after two failed probes (about 1 s) and its
    # clients are disconnected, to reconnect to another node; up again
    # after two good probes.
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
    # send-proxy-v2: each connection to a node starts with a PROXY v2
    # header naming the client, whom the node then logs and rate-limits
    # (its listener trusts 127.0.0.1: proxy_protocol). The health checks,
    # on their own port, carry none.
{{- range .Servers}}
    server {{.Name}} {{.MQTT}} check port {{.HTTPPort}} send-proxy-v2
{{- end}}
`))

// HAProxyDynsecConfig renders DIR/haproxy/haproxy.cfg for a demo in
// dynsec mode: a tcp frontend on Proxy.MQTTAddr and the backend triad with
// one server per node (its MQTT address, sent a PROXY v2 header,
// health-checked with GET /ready on its HTTP port), every node in
// rotation and each client stuck to its node by the client identifier of
// its CONNECT; the stats socket at level admin ("show table triad" lists
// the clients and their nodes) and the server-state-file. It fails if the
// socket path is too long for a unix socket (choose a shorter directory).
func (l *Layout) HAProxyDynsecConfig() ([]byte, error) {
	if n := len(l.Proxy.Socket); n > maxSocketPath {
		return nil, fmt.Errorf("demo: the HAProxy socket path %s is %d bytes long; HAProxy takes at most about %d: use a shorter --dir",
			l.Proxy.Socket, n, maxSocketPath)
	}
	data := struct {
		Socket, StateFile, Frontend, Backend string
		Servers                              []haproxyServer
	}{
		Socket: l.Proxy.Socket, StateFile: l.Proxy.StateFile, Frontend: l.Proxy.MQTTAddr, Backend: Backend,
	}
	for _, n := range l.Nodes {
		_, port, err := net.SplitHostPort(n.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("demo: %s http address %q: %w", n.Name, n.HTTPAddr, err)
		}
		data.Servers = append(data.Servers, haproxyServer{Name: n.Name, MQTT: n.MQTTAddr, HTTPPort: port})
	}
	var b bytes.Buffer
	if err := haproxyDynsecTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("demo: render %s: %w", l.Proxy.ConfigPath, err)
	}
	return b.Bytes(), nil
}
