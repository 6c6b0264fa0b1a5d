package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Cluster makes the node one of a Triad cluster: leadership on etcd, and
// only the leader serves MQTT. Without a cluster section the node is a
// standalone broker.
type Cluster struct {
	Name string `yaml:"name"` // required; [A-Za-z0-9._-], 1..63 chars; etcd prefix /triad/<name>/
	// Mode is what the cluster replicates and who serves: full (default:
	// everything, only the leader serves MQTT) or dynsec (only the
	// dynamic-security configuration; every node serves its own clients,
	// whose sessions, queues and retained messages stay on that node).
	Mode        string   `yaml:"mode"`
	LeaseTTL    Duration `yaml:"lease_ttl"`    // leader lease; default 2s; etcd rounds it up to its minimum
	FenceMargin Duration `yaml:"fence_margin"` // stop serving this long before the lease can expire; default 500ms
	Etcd        Etcd     `yaml:"etcd"`
	// Replication streams the leader's state to the followers; without it
	// a new leader serves only its own local state.
	Replication *Replication `yaml:"replication,omitempty"`
}

// Replication is the leader → follower state stream.
type Replication struct {
	Address    string   `yaml:"address"`     // host:port this node listens on for followers (when it leads); required
	Advertise  string   `yaml:"advertise"`   // host:port followers dial; default: address
	AckTimeout Duration `yaml:"ack_timeout"` // an in-sync follower silent this long is dropped from the in-sync set; default 2s
	Mode       string   `yaml:"mode"`        // sync (default): acks wait for the in-sync followers | async: acks follow the leader's disk alone
	NoFollower string   `yaml:"no_follower"` // with no follower in sync: continue (default, loud warning) | block (acks wait); sync mode only
	// TLS secures the stream both ways (required unless Insecure).
	TLS      *ReplicationTLS `yaml:"tls,omitempty"`
	Insecure bool            `yaml:"insecure"` // plaintext, unauthenticated: for tests on one machine only
}

// Etcd says where the cluster's etcd is: external endpoints, an embedded
// member run by this process, or both (the member's client URL is then
// added to the endpoints).
type Etcd struct {
	Endpoints   []string      `yaml:"endpoints"`          // client URLs of an external etcd; the embedded member's client_url is put first at run time
	DialTimeout Duration      `yaml:"dial_timeout"`       // default 2s
	TLS         *EtcdTLS      `yaml:"tls,omitempty"`      // client certificates for an external etcd over https
	Embedded    *EmbeddedEtcd `yaml:"embedded,omitempty"` // run an etcd member in this process
}

// EtcdTLS names the PEM files a node presents to etcd and the CA it trusts.
type EtcdTLS struct {
	Cert string `yaml:"cert"` // client certificate; required with key
	Key  string `yaml:"key"`  // client key
	CA   string `yaml:"ca"`   // CA of the etcd servers; default: the system pool
}

// EmbeddedEtcd is the etcd member this node runs (one per node: a three-VM
// appliance then needs no separate etcd). Its member name is node.name.
type EmbeddedEtcd struct {
	DataDir             string       `yaml:"data_dir"`              // default <node.data_dir>/etcd
	ClientURL           string       `yaml:"client_url"`            // required, e.g. http://10.0.0.1:2379 (http, IP or localhost, port; listened on and advertised)
	PeerURL             string       `yaml:"peer_url"`              // required, e.g. http://10.0.0.1:2380 (same rules as client_url)
	InitialCluster      []EtcdMember `yaml:"initial_cluster"`       // required: every member, this node included
	InitialClusterState string       `yaml:"initial_cluster_state"` // new (default) | existing
	Tick                Duration     `yaml:"tick"`                  // etcd heartbeat interval, whole ms; default 100ms
	ElectionTimeout     Duration     `yaml:"election_timeout"`      // etcd election timeout, whole ms, 5 ticks..50s; default 1s
}

// EtcdMember is one member of the embedded etcd cluster.
type EtcdMember struct {
	Name    string `yaml:"name"`     // the node.name of the node running it
	PeerURL string `yaml:"peer_url"` // its peer URL
}

// Defaults of the cluster keys.
const (
	DefaultLeaseTTL        = 2 * time.Second        // cluster.lease_ttl
	DefaultFenceMargin     = 500 * time.Millisecond // cluster.fence_margin
	DefaultEtcdDialTimeout = 2 * time.Second        // cluster.etcd.dial_timeout
	DefaultEtcdTick        = 100 * time.Millisecond // cluster.etcd.embedded.tick
	DefaultEtcdElection    = time.Second            // cluster.etcd.embedded.election_timeout
	DefaultAckTimeout      = 2 * time.Second        // cluster.replication.ack_timeout
)

// The cluster modes (cluster.mode).
const (
	ModeFull   = "full"   // everything replicated; only the leader serves MQTT
	ModeDynsec = "dynsec" // only dynamic security replicated; every node serves
)

func (c *Cluster) applyDefaults(node *Node, given func(string) bool) {
	setDefault(&c.Mode, ModeFull, false) // "" is never a mode
	setDefault(&c.LeaseTTL, Duration(DefaultLeaseTTL), given("cluster.lease_ttl"))
	setDefault(&c.FenceMargin, Duration(DefaultFenceMargin), given("cluster.fence_margin"))
	setDefault(&c.Etcd.DialTimeout, Duration(DefaultEtcdDialTimeout), given("cluster.etcd.dial_timeout"))
	if e := c.Etcd.Embedded; e != nil {
		// "" is never a usable directory or state, so it always means unset.
		if e.DataDir == "" && node.DataDir != "" {
			e.DataDir = filepath.Join(node.DataDir, "etcd")
		}
		setDefault(&e.InitialClusterState, "new", false)
		setDefault(&e.Tick, Duration(DefaultEtcdTick), given("cluster.etcd.embedded.tick"))
		setDefault(&e.ElectionTimeout, Duration(DefaultEtcdElection), given("cluster.etcd.embedded.election_timeout"))
	}
	if r := c.Replication; r != nil {
		// "" is never a usable address or policy, so it always means unset.
		setDefault(&r.Advertise, r.Address, false)
		setDefault(&r.AckTimeout, Duration(DefaultAckTimeout), given("cluster.replication.ack_timeout"))
		setDefault(&r.Mode, "sync", false)
		setDefault(&r.NoFollower, "continue", false)
	}
}

var (
	clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)
	clusterStates = []string{"new", "existing"}
	noFollowers   = []string{"continue", "block"}
	replModes     = []string{"sync", "async"}
	clusterModes  = []string{ModeFull, ModeDynsec}
)

// maxEtcdElection is the longest election timeout etcd accepts.
const maxEtcdElection = 50 * time.Second

// CheckClusterName reports a name that cluster.name does not accept, as
// Validate would.
func CheckClusterName(name string) error {
	var errs Errors
	checkClusterName(&errs, name)
	return errs.Err()
}

func checkClusterName(errs *Errors, name string) {
	switch {
	case name == "":
		errs.Add("cluster.name", "missing: the cluster name (the etcd prefix /triad/<name>/) is required")
	case !clusterNameRE.MatchString(name):
		errs.Add("cluster.name", "%q must be 1 to 63 characters from A-Z a-z 0-9 . _ -", name)
	}
}

func (c *Cluster) validate(errs *Errors, node *Node) {
	checkClusterName(errs, c.Name)
	checkEnum(errs, "cluster.mode", c.Mode, clusterModes)
	ttl, margin := c.LeaseTTL.D(), c.FenceMargin.D()
	if ttl < time.Second {
		errs.Add("cluster.lease_ttl", "%v is too short; must be at least 1s (etcd's minimum lease)", ttl)
	}
	if margin <= 0 || margin > ttl/2 {
		errs.Add("cluster.fence_margin", "%v must be above 0 and at most half of cluster.lease_ttl (%v)", margin, ttl)
	}
	if c.Etcd.DialTimeout.D() <= 0 {
		errs.Add("cluster.etcd.dial_timeout", "%v must be above 0", c.Etcd.DialTimeout.D())
	}
	if len(c.Etcd.Endpoints) == 0 && c.Etcd.Embedded == nil {
		errs.Add("cluster.etcd", "missing: give endpoints of an external etcd, or embedded, or both")
	}
	for i, ep := range c.Etcd.Endpoints {
		checkURL(errs, fmt.Sprintf("cluster.etcd.endpoints[%d]", i), ep)
	}
	if t := c.Etcd.TLS; t != nil {
		if c.Etcd.Embedded != nil {
			// The etcd client uses one transport for all its endpoints, and
			// an embedded member serves plain http.
			errs.Add("cluster.etcd.tls", "cannot be combined with cluster.etcd.embedded, whose member serves plain http; use an external etcd over https, or the embedded member without tls")
		}
		t.Check(errs, "cluster.etcd.tls")
	}
	if e := c.Etcd.Embedded; e != nil {
		e.validate(errs, node)
	}
	// cluster.replication is checked by Config.Validate after the
	// listeners, whose addresses its own must not clash with.
}

// validate checks the replication keys. used holds the listening addresses
// of the MQTT listeners and the HTTP server (see checkListenAddress); the
// replication address is checked against them.
func (r *Replication) validate(errs *Errors, used map[string]string) {
	const p = "cluster.replication"
	checkListenAddress(errs, p+".address", r.Address, used)
	switch {
	case r.Advertise != r.Address:
		checkDialAddress(errs, p+".advertise", r.Advertise, "")
	case isHostPort(r.Address): // a malformed address is reported once, above
		checkDialAddress(errs, p+".advertise", r.Advertise, " (advertise defaults to "+p+".address)")
	}
	if r.AckTimeout.D() <= 0 {
		errs.Add(p+".ack_timeout", "%v must be above 0", r.AckTimeout.D())
	}
	checkEnum(errs, p+".mode", r.Mode, replModes)
	checkEnum(errs, p+".no_follower", r.NoFollower, noFollowers)
	if r.Mode == "async" && r.NoFollower == "block" {
		errs.Add(p+".no_follower", "block cannot be combined with mode: async, whose acknowledgements never wait for followers")
	}
}

// checkDialAddress reports addr at path unless another node can dial it:
// host:port with a host that is not empty, 0.0.0.0 or :: (those mean every
// interface of the listener, not an address of it) and a port in 1..65535.
// note is appended to the messages about the host and port.
func checkDialAddress(errs *Errors, path, addr, note string) {
	if addr == "" {
		errs.Add(path, `missing: the host:port followers dial, such as "10.0.0.1:7400"`)
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		errs.Add(path, "%q is not a host:port address", addr)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		errs.Add(path, "%q has port %q, which followers cannot dial; give a port in 1..65535%s", addr, port, note)
		return
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		what := host
		if host == "" {
			what = "an empty host"
		}
		errs.Add(path, "%q: %s means every interface of this node, not an address followers can dial; give this node's IP address or host name%s", addr, what, note)
	}
}

// isHostPort reports whether addr is host:port with a numeric port in
// 0..65535 (what checkListenAddress accepts, leaving aside clashes).
func isHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// Check reports, under path (e.g. "cluster.etcd.tls"), a cert without its
// key (or the reverse) and files that cannot be read or hold no usable PEM
// data, as TLSConfig.check does for listeners. Validate calls it, and so
// does triad-lbagent for its own etcd.tls.
func (t *EtcdTLS) Check(errs *Errors, path string) {
	switch {
	case t.Cert != "" && t.Key == "":
		errs.Add(path+".key", "missing: cert %q needs its key (give both or neither)", t.Cert)
	case t.Key != "" && t.Cert == "":
		errs.Add(path+".cert", "missing: key %q needs its certificate (give both or neither)", t.Key)
	case t.Cert != "":
		certPEM := readPEM(errs, path+".cert", t.Cert)
		keyPEM := readPEM(errs, path+".key", t.Key)
		if certPEM != nil && keyPEM != nil {
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				errs.AddCause(path+".cert", err, "cert %q and key %q do not load as a key pair", t.Cert, t.Key)
			}
		}
	}
	if t.CA != "" {
		if caPEM := readPEM(errs, path+".ca", t.CA); caPEM != nil && !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
			errs.Add(path+".ca", "%q holds no PEM certificate", t.CA)
		}
	}
}

func (e *EmbeddedEtcd) validate(errs *Errors, node *Node) {
	const p = "cluster.etcd.embedded"
	client := checkMemberURL(errs, p+".client_url", e.ClientURL)
	peer := checkMemberURL(errs, p+".peer_url", e.PeerURL)
	if client != "" && client == peer {
		errs.Add(p+".peer_url", "%q uses the address of %s.client_url %q", e.PeerURL, p, e.ClientURL)
	}
	e.validateMembers(errs, p, node.Name)
	checkEnum(errs, p+".initial_cluster_state", e.InitialClusterState, clusterStates)
	e.validateTiming(errs, p)
}

// validateMembers checks initial_cluster: named, distinct members with
// distinct peer URLs, this node (self) among them with its own peer_url.
func (e *EmbeddedEtcd) validateMembers(errs *Errors, p, self string) {
	if len(e.InitialCluster) == 0 {
		errs.Add(p+".initial_cluster", "missing: list every member (name and peer_url), this node included")
		return
	}
	listed := false
	names := map[string]int{}
	peers := map[string]int{}
	for i, m := range e.InitialCluster {
		mp := fmt.Sprintf("%s.initial_cluster[%d]", p, i)
		switch j, dup := names[m.Name]; {
		case m.Name == "":
			errs.Add(mp+".name", "missing: the node.name of the member")
		case !nodeNameRE.MatchString(m.Name):
			errs.Add(mp+".name", "%q must be 1 to 63 characters from A-Z a-z 0-9 . _ - (it is a node.name)", m.Name)
		case dup:
			errs.Add(mp+".name", "%q is already initial_cluster[%d]", m.Name, j)
		default:
			names[m.Name] = i
		}
		if addr := checkMemberURL(errs, mp+".peer_url", m.PeerURL); addr != "" {
			if j, dup := peers[addr]; dup {
				errs.Add(mp+".peer_url", "%q is already the peer_url of initial_cluster[%d]", m.PeerURL, j)
			} else {
				peers[addr] = i
			}
		}
		if m.Name == self && self != "" {
			listed = true
			if m.PeerURL != e.PeerURL && e.PeerURL != "" {
				errs.Add(mp+".peer_url", "%q differs from %s.peer_url %q for this node", m.PeerURL, p, e.PeerURL)
			}
		}
	}
	if !listed && self != "" { // a missing node.name is reported on its own
		errs.Add(p+".initial_cluster", "this node (node.name %q) is not listed", self)
	}
}

// validateTiming checks tick and election_timeout as etcd will: whole
// milliseconds, at least 5 ticks per election timeout, at most 50s.
func (e *EmbeddedEtcd) validateTiming(errs *Errors, p string) {
	tick, election := e.Tick.D(), e.ElectionTimeout.D()
	switch {
	case tick < time.Millisecond:
		errs.Add(p+".tick", "%v is too short; must be at least 1ms", tick)
	case tick%time.Millisecond != 0:
		errs.Add(p+".tick", "%v is not a whole number of milliseconds (etcd counts in milliseconds)", tick)
	}
	switch {
	case election%time.Millisecond != 0:
		errs.Add(p+".election_timeout", "%v is not a whole number of milliseconds (etcd counts in milliseconds)", election)
	case election < 5*tick:
		errs.Add(p+".election_timeout", "%v must be at least 5 ticks (%v)", election, 5*tick)
	case election > maxEtcdElection:
		errs.Add(p+".election_timeout", "%v is too long; etcd allows at most %v", election, maxEtcdElection)
	}
}

// checkURL reports u at path unless it is an absolute http or https URL
// with a host.
func checkURL(errs *Errors, path, u string) {
	if u == "" {
		errs.Add(path, `missing: a URL such as "http://127.0.0.1:2379" is required`)
		return
	}
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		errs.Add(path, "%q is not an http:// or https:// URL with a host", u)
	}
}

// checkMemberURL reports u at path unless etcd can both listen on it and
// advertise it to the other members: http:// (the embedded member has no
// certificates), a host that is an IP address other than 0.0.0.0 or ::,
// or localhost, and a port. It returns the URL's host:port, lower-cased,
// or "" if u was reported.
func checkMemberURL(errs *Errors, path, u string) string {
	if u == "" {
		errs.Add(path, `missing: a URL such as "http://10.0.0.1:2380" is required`)
		return ""
	}
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		errs.Add(path, "%q is not an http:// URL with a host and port", u)
		return ""
	}
	if parsed.Scheme != "http" {
		errs.Add(path, "%q: the embedded etcd member speaks plain http only (https needs member certificates, which Triad does not configure)", u)
		return ""
	}
	host, port, err := net.SplitHostPort(parsed.Host)
	if err != nil {
		errs.Add(path, "%q has no port (etcd needs host:port)", u)
		return ""
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || port == "0" {
		errs.Add(path, "%q has port %q, which is not a number in 1..65535", u, port)
		return ""
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil && host != "localhost": // etcd accepts no other name
		errs.Add(path, "%q: the host must be an IP address or localhost (etcd binds to it)", u)
		return ""
	case ip != nil && ip.IsUnspecified():
		errs.Add(path, "%q: %s cannot be advertised to the other members; give this node's own IP address", u, host)
		return ""
	}
	return strings.ToLower(parsed.Host)
}
