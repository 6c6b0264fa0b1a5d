package lbagent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/triadmq/triad/config"
)

// Config is triad-lbagent's configuration file (docs/lbagent.md,
// packaging/lbagent.yaml).
type Config struct {
	Cluster           string            `yaml:"cluster"` // required: the Triad cluster.name whose leader to follow
	Etcd              Etcd              `yaml:"etcd"`
	HAProxy           HAProxy           `yaml:"haproxy"`
	Servers           map[string]string `yaml:"servers"`            // node name → HAProxy server name; a node not listed: the same name
	ReconcileInterval config.Duration   `yaml:"reconcile_interval"` // default 2s
	FallbackAfter     config.Duration   `yaml:"fallback_after"`     // default 15s; 0: never
	Log               config.Log        `yaml:"log"`
}

// Etcd says how to reach the cluster's etcd.
type Etcd struct {
	Endpoints   []string        `yaml:"endpoints"`     // required: http:// or https:// URLs
	DialTimeout config.Duration `yaml:"dial_timeout"`  // default 2s; also bounds each read
	TLS         *config.EtcdTLS `yaml:"tls,omitempty"` // ca, cert, key (PEM files)
}

// HAProxy says which HAProxy to drive.
type HAProxy struct {
	Socket  string          `yaml:"socket"`  // default /run/haproxy/admin.sock; or ipv4@HOST:PORT
	Backend string          `yaml:"backend"` // default triad
	Timeout config.Duration `yaml:"timeout"` // per command, dial to answer; default 2s
}

// Defaults of the keys a file may leave out.
const (
	DefaultSocket            = "/run/haproxy/admin.sock"
	DefaultBackend           = "triad"
	DefaultHAProxyTimeout    = 2 * time.Second
	DefaultDialTimeout       = 2 * time.Second
	DefaultReconcileInterval = 2 * time.Second
	DefaultFallbackAfter     = 15 * time.Second
)

// LoadConfig reads, strictly decodes, defaults and validates the file at
// path. Every error is a *config.Error (several are joined) naming the
// file, the line, the key path and the offending value, e.g.
//
//	lbagent.yaml:4: haproxy.backnd: unknown key (did you mean "backend"?)
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lbagent config: %w", err)
	}
	return ParseConfig(data, path)
}

// ParseConfig is LoadConfig on data; name is the file name for errors.
// A key present in the file keeps its value even when that is zero
// ("fallback_after: 0" turns the fallback off); a key left out gets its
// default.
func ParseConfig(data []byte, name string) (*Config, error) {
	c := &Config{}
	doc, err := config.DecodeStrict(data, name, configTop, c)
	if err != nil {
		return nil, err
	}
	c.applyDefaults(doc.Given)
	if err := c.Validate(); err != nil {
		return nil, doc.Locate(err)
	}
	return c, nil
}

// configTop is what the top level of the agent's file holds.
var configTop = config.TopLevel{Keys: "cluster, etcd, haproxy, servers, reconcile_interval, fallback_after and log"}

// ApplyDefaults fills every zero field of a Config built in code.
func (c *Config) ApplyDefaults() { c.applyDefaults(func(string) bool { return false }) }

func (c *Config) applyDefaults(given func(string) bool) {
	setDefault(&c.HAProxy.Socket, DefaultSocket, false)
	setDefault(&c.HAProxy.Backend, DefaultBackend, false)
	setDefault(&c.HAProxy.Timeout, config.Duration(DefaultHAProxyTimeout), given("haproxy.timeout"))
	setDefault(&c.Etcd.DialTimeout, config.Duration(DefaultDialTimeout), given("etcd.dial_timeout"))
	setDefault(&c.ReconcileInterval, config.Duration(DefaultReconcileInterval), given("reconcile_interval"))
	setDefault(&c.FallbackAfter, config.Duration(DefaultFallbackAfter), given("fallback_after"))
	setDefault(&c.Log.Level, config.DefaultLogLevel, false)
	setDefault(&c.Log.Format, config.DefaultLogFormat, false)
}

func setDefault[T comparable](p *T, def T, given bool) {
	var zero T
	if !given && *p == zero {
		*p = def
	}
}

var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// Validate checks c (with its defaults applied) and returns every problem,
// each a *config.Error naming the key path and the value. It reads the TLS
// files it names.
func (c *Config) Validate() error {
	var errs config.Errors
	if err := config.CheckClusterName(c.Cluster); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			errs.Add("cluster", "%s", ce.Msg)
		} else {
			errs.Add("cluster", "%v", err)
		}
	}
	c.Etcd.validate(&errs)
	c.HAProxy.validate(&errs)
	c.validateServers(&errs)
	if c.ReconcileInterval.D() < 100*time.Millisecond {
		errs.Add("reconcile_interval", "%v is too short; must be at least 100ms", c.ReconcileInterval.D())
	}
	if f := c.FallbackAfter.D(); f != 0 && f < c.ReconcileInterval.D() {
		errs.Add("fallback_after", "%v is shorter than reconcile_interval (%v); give at least that, or 0 to never fall back", f, c.ReconcileInterval.D())
	}
	c.Log.Check(&errs, "log")
	return errs.Err()
}

func (e *Etcd) validate(errs *config.Errors) {
	if len(e.Endpoints) == 0 {
		errs.Add("etcd.endpoints", `missing: list the cluster's etcd client URLs, e.g. ["http://10.0.0.1:2379"]`)
	}
	for i, ep := range e.Endpoints {
		p := fmt.Sprintf("etcd.endpoints[%d]", i)
		u, err := url.Parse(ep)
		switch {
		case ep == "":
			errs.Add(p, `missing: a URL such as "http://10.0.0.1:2379" is required`)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs.Add(p, "%q is not an http:// or https:// URL with a host", ep)
		case e.TLS != nil && u.Scheme != "https":
			errs.Add(p, "%q is plain http, but etcd.tls is set: use https:// endpoints", ep)
		}
	}
	if e.DialTimeout.D() <= 0 {
		errs.Add("etcd.dial_timeout", "%v must be above 0", e.DialTimeout.D())
	}
	if e.TLS != nil {
		e.TLS.Check(errs, "etcd.tls")
	}
}

func (h *HAProxy) validate(errs *config.Errors) {
	if _, _, err := ParseSocket(h.Socket); err != nil {
		errs.Add("haproxy.socket", "%q is not a unix socket path (/run/haproxy/admin.sock, unix@PATH) nor ipv4@HOST:PORT", h.Socket)
	}
	if err := CheckName("backend", h.Backend); err != nil {
		errs.Add("haproxy.backend", "%q: HAProxy names are 1 to 127 characters from A-Z a-z 0-9 - _ . :", h.Backend)
	}
	if h.Timeout.D() <= 0 {
		errs.Add("haproxy.timeout", "%v must be above 0", h.Timeout.D())
	}
}

func (c *Config) validateServers(errs *config.Errors) {
	nodes := make([]string, 0, len(c.Servers))
	for n := range c.Servers {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes) // stable messages
	bySrv := map[string]string{}
	for _, n := range nodes {
		s, p := c.Servers[n], "servers."+n
		if !nodeNameRE.MatchString(n) {
			errs.Add(p, "node name %q must be 1 to 63 characters from A-Z a-z 0-9 . _ -", n)
		}
		if err := CheckName("server", s); err != nil {
			errs.Add(p, "server name %q: HAProxy names are 1 to 127 characters from A-Z a-z 0-9 - _ . :", s)
			continue
		}
		if other, dup := bySrv[s]; dup {
			errs.Add(p, "server %q is already the server of node %q: each node needs its own", s, other)
			continue
		}
		bySrv[s] = n
	}
}

// ServerOf returns the HAProxy server of node: its servers entry, else
// the node's own name.
func (c *Config) ServerOf(node string) string {
	if s, ok := c.Servers[node]; ok {
		return s
	}
	return node
}

// NodeOf returns the node whose server is server: the servers entry that
// names it, else the server's own name, or "" when that name is a node
// listed with another server.
func (c *Config) NodeOf(server string) string {
	for n, s := range c.Servers {
		if s == server {
			return n
		}
	}
	if _, listed := c.Servers[server]; listed {
		return ""
	}
	return server
}

// Logger returns the slog logger log.level and log.format ask for, the
// same as the triad daemon's.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	return (&config.Config{Log: c.Log}).Logger(w)
}

// Effective renders c as YAML with every key written out, for
// `triad-lbagent check-config`. Parsing it gives back an equal Config.
func (c *Config) Effective() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("lbagent config: encode effective configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("lbagent config: encode effective configuration: %w", err)
	}
	return b.Bytes(), nil
}
