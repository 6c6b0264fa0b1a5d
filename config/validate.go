package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	nodeNameRE    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)
	listenerTypes = []string{"tcp", "tls", "websocket"}
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{"text", "json"}
	tlsVersions   = []string{"1.2", "1.3"}
)

// Validate checks c, which should have had its defaults applied (Load and
// Parse do that), and returns every problem found: one *Error per problem,
// joined with errors.Join, each naming the key path and the offending value.
// It reads the TLS files it names but does not require node.data_dir to exist.
func (c *Config) Validate() error {
	var errs Errors
	c.Node.validate(&errs)
	if c.Cluster != nil {
		c.Cluster.validate(&errs, &c.Node)
	}
	addrs := c.MQTT.validateListeners(&errs)
	c.MQTT.Limits.validate(&errs)
	c.MQTT.AuthRateLimit.validate(&errs)
	c.MQTT.Admission.validate(&errs)
	c.HTTP.validate(&errs, addrs)
	if c.Cluster != nil && c.Cluster.Replication != nil {
		c.Cluster.Replication.validate(&errs, addrs)
		c.Cluster.Replication.checkSecurity(&errs, c.Cluster.Name, c.Node.Name)
	}
	if c.Cluster != nil && c.Cluster.Mode == ModeDynsec {
		// What dynsec mode replicates needs both.
		if c.Cluster.Replication == nil {
			errs.Add("cluster.replication", "missing: cluster.mode dynsec replicates the dynamic-security configuration through it")
		}
		if !c.Dynsec.Enabled {
			errs.Add("dynsec.enabled", "false: cluster.mode dynsec replicates the dynamic-security configuration, so it must be enabled")
		}
	}
	if c.Store.MaxBatch < 1 {
		errs.Add("store.max_batch", "%d is too small; must be >= 1", c.Store.MaxBatch)
	}
	c.Log.Check(&errs, "log")
	return errs.Err()
}

// Check reports, under path (e.g. "log"), a level or format that is missing
// or not one of those the logger knows. Validate calls it, and so does
// triad-lbagent, whose file has the same log section.
func (l *Log) Check(errs *Errors, path string) {
	checkEnum(errs, path+".level", l.Level, logLevels)
	checkEnum(errs, path+".format", l.Format, logFormats)
}

func (n *Node) validate(errs *Errors) {
	switch {
	case n.Name == "":
		errs.Add("node.name", "missing: every node needs a name unique in its cluster")
	case !nodeNameRE.MatchString(n.Name):
		errs.Add("node.name", "%q must be 1 to 63 characters from A-Z a-z 0-9 . _ -", n.Name)
	}
	if n.DataDir == "" {
		errs.Add("node.data_dir", "missing: the directory for the node's durable state is required")
	}
}

// validateListeners checks each listener and returns the listening
// addresses in use (normalised host:port → key path) for the HTTP check.
func (m *MQTT) validateListeners(errs *Errors) map[string]string {
	if len(m.Listeners) == 0 {
		errs.Add("mqtt.listeners", "missing: at least one listener is required")
	}
	ids := map[string]string{}
	addrs := map[string]string{}
	for i, l := range m.Listeners {
		p := fmt.Sprintf("mqtt.listeners[%d]", i)
		switch other, dup := ids[l.ID]; {
		case l.ID == "":
			errs.Add(p+".id", "missing")
		case dup:
			errs.Add(p+".id", "%q is already the id of %s", l.ID, other)
		default:
			ids[l.ID] = p
		}
		checkEnum(errs, p+".type", l.Type, listenerTypes)
		checkListenAddress(errs, p+".address", l.Address, addrs)
		switch {
		case l.Type == "tls" && l.TLS == nil:
			errs.Add(p+".tls", "missing: a tls listener needs tls.cert and tls.key")
		case l.Type == "tcp" && l.TLS != nil:
			errs.Add(p+".tls", "not allowed on a tcp listener (use type tls, or websocket for wss)")
		case l.TLS != nil:
			l.TLS.check(errs, p+".tls")
		}
		switch {
		case l.ProxyProtocol == nil:
		case l.Type == "websocket":
			errs.Add(p+".proxy_protocol", "not supported on a websocket listener (only tcp and tls)")
		default:
			l.ProxyProtocol.check(errs, p+".proxy_protocol")
		}
		switch {
		case len(l.AllowedOrigins) == 0:
		case l.Type != "websocket":
			errs.Add(p+".allowed_origins", "only for a websocket listener (browsers send an Origin; MQTT over tcp/tls has none)")
		default:
			checkOrigins(errs, p+".allowed_origins", l.AllowedOrigins)
		}
	}
	return addrs
}

func (l *Limits) validate(errs *Errors) {
	if l.MaxClients < 0 {
		errs.Add("mqtt.limits.max_clients", "%d is negative; use 0 for unlimited", l.MaxClients)
	}
	if l.MaxInflight < 1 {
		errs.Add("mqtt.limits.max_inflight", "%d is too small; must be >= 1", l.MaxInflight)
	}
	if l.ReceiveMaximum < 1 { // a Receive Maximum of 0 is a protocol error (MQTT 5 §3.1.2.11.3)
		errs.Add("mqtt.limits.receive_maximum", "%d is too small; must be >= 1", l.ReceiveMaximum)
	}
	if l.MaxQueuedMessages < 1 {
		errs.Add("mqtt.limits.max_queued_messages", "%d is too small; must be >= 1", l.MaxQueuedMessages)
	}
	if l.MaxClientWritesPending < 1 || l.MaxClientWritesPending > math.MaxInt32 {
		errs.Add("mqtt.limits.max_client_writes_pending", "%d is out of range; must be 1..%d", l.MaxClientWritesPending, math.MaxInt32)
	}
}

func (h *HTTP) validate(errs *Errors, listeners map[string]string) {
	if h.Address == "" {
		return
	}
	checkListenAddress(errs, "http.address", h.Address, listeners)
}

// checkListenAddress checks that addr is host:port with a numeric port in
// 0..65535 and not already in use (a map of normalised address → key path,
// to which addr is added). Port 0 (any free port) never conflicts.
func checkListenAddress(errs *Errors, path, addr string, used map[string]string) {
	if addr == "" {
		errs.Add(path, `missing: a host:port address such as "0.0.0.0:1883" is required`)
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		reason := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			reason = ae.Err
		}
		errs.Add(path, "%q is not a host:port address (%s)", addr, reason)
		return
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		errs.Add(path, "%q has port %q, which is not a number in 0..65535", addr, port)
		return
	}
	if n == 0 {
		return
	}
	key := net.JoinHostPort(strings.ToLower(host), strconv.FormatUint(n, 10))
	if other, dup := used[key]; dup {
		errs.Add(path, "%q is already used by %s", addr, other)
		return
	}
	used[key] = path
}

// checkEnum reports v at path unless it is one of allowed.
func checkEnum(errs *Errors, path, v string, allowed []string) {
	switch {
	case v == "":
		errs.Add(path, "missing: must be one of %s", strings.Join(allowed, ", "))
	case !slices.Contains(allowed, v):
		errs.Add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}
