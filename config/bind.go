package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// PrivilegedPort is an address the node listens on whose port is below
// 1024: binding it needs CAP_NET_BIND_SERVICE (the systemd generator,
// `triad systemd-generator`, grants it only then).
type PrivilegedPort struct {
	Key     string // e.g. mqtt.listeners[0].address
	Address string
	Port    int
}

func (p PrivilegedPort) String() string {
	return fmt.Sprintf("%s %s (port %d)", p.Key, p.Address, p.Port)
}

// PrivilegedPorts lists every address the node binds with a port below
// 1024: MQTT listeners, the HTTP server, the replication listener and the
// embedded etcd member's URLs. Port 0 (any free port) is not privileged.
func (c *Config) PrivilegedPorts() []PrivilegedPort {
	var out []PrivilegedPort
	add := func(key, addr string, port int) {
		if port > 0 && port < 1024 {
			out = append(out, PrivilegedPort{Key: key, Address: addr, Port: port})
		}
	}
	hostPort := func(key, addr string) {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				add(key, addr, n)
			}
		}
	}
	urlPort := func(key, raw string) {
		if u, err := url.Parse(raw); err == nil {
			if n, err := strconv.Atoi(u.Port()); err == nil {
				add(key, raw, n)
			}
		}
	}
	for i, l := range c.MQTT.Listeners {
		hostPort(fmt.Sprintf("mqtt.listeners[%d].address", i), l.Address)
	}
	hostPort("http.address", c.HTTP.Address)
	if c.Cluster == nil {
		return out
	}
	if r := c.Cluster.Replication; r != nil {
		hostPort("cluster.replication.address", r.Address)
	}
	if e := c.Cluster.Etcd.Embedded; e != nil {
		urlPort("cluster.etcd.embedded.client_url", e.ClientURL)
		urlPort("cluster.etcd.embedded.peer_url", e.PeerURL)
	}
	return out
}
