package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// clusterYAML is minimalYAML (node n1) plus a cluster section from line 10
// on: one member of a three-member embedded etcd, every default left out.
const clusterYAML = minimalYAML + `cluster:
  name: prod
  etcd:
    embedded:
      client_url: http://10.0.0.1:2379
      peer_url: http://10.0.0.1:2380
      initial_cluster:
        - name: n1
          peer_url: http://10.0.0.1:2380
        - name: n2
          peer_url: http://10.0.0.2:2380
        - name: n3
          peer_url: http://10.0.0.3:2380
`

// clusterWith returns clusterYAML with its first old replaced by new.
func clusterWith(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(clusterYAML, old) {
		t.Fatalf("clusterYAML has no %q", old)
	}
	return strings.Replace(clusterYAML, old, new, 1)
}

// threeMembers is the initial_cluster of clusterYAML.
func threeMembers() []EtcdMember {
	return []EtcdMember{
		{Name: "n1", PeerURL: "http://10.0.0.1:2380"},
		{Name: "n2", PeerURL: "http://10.0.0.2:2380"},
		{Name: "n3", PeerURL: "http://10.0.0.3:2380"},
	}
}

// lastMember is the last line of clusterYAML (line 22); a replication
// section appended after it starts on line 23, its first key on line 24.
const lastMember = "          peer_url: http://10.0.0.3:2380\n"

// replicationYAML is clusterYAML with a replication section that gives
// only the required address (lines 23 and 24) and, on line 25, insecure
// (tls is tested in replication_tls_test.go).
const replicationYAML = clusterYAML + `  replication:
    address: 10.0.0.1:7400
    insecure: true
`

func TestClusterDefaults(t *testing.T) {
	c, err := Parse([]byte(clusterYAML), "triad.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Cluster{
		Name:        "prod",
		Mode:        "full",
		LeaseTTL:    Duration(2 * time.Second),
		FenceMargin: Duration(500 * time.Millisecond),
		Etcd: Etcd{
			DialTimeout: Duration(2 * time.Second),
			Embedded: &EmbeddedEtcd{
				DataDir:             "/var/lib/triad/etcd",
				ClientURL:           "http://10.0.0.1:2379",
				PeerURL:             "http://10.0.0.1:2380",
				InitialCluster:      threeMembers(),
				InitialClusterState: "new",
				Tick:                Duration(100 * time.Millisecond),
				ElectionTimeout:     Duration(time.Second),
			},
		},
	}
	if !reflect.DeepEqual(c.Cluster, want) {
		t.Fatalf("cluster\n got %+v\nwant %+v", c.Cluster, want)
	}
	if !reflect.DeepEqual(c.Cluster.Etcd.Embedded, want.Etcd.Embedded) {
		t.Fatalf("embedded\n got %+v\nwant %+v", c.Cluster.Etcd.Embedded, want.Etcd.Embedded)
	}
	// The rest of the file is untouched by the cluster section.
	rest := *c
	rest.Cluster = nil
	if !reflect.DeepEqual(&rest, minimalWant()) {
		t.Fatalf("non-cluster keys\n got %+v\nwant %+v", &rest, minimalWant())
	}
}

func TestClusterAbsentOrNullIsStandalone(t *testing.T) {
	for name, doc := range map[string]string{
		"absent": minimalYAML,
		"null":   minimalYAML + "cluster:\n",
		"tilde":  minimalYAML + "cluster: ~\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(doc), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Cluster != nil {
				t.Fatalf("Cluster = %+v, want nil (standalone)", c.Cluster)
			}
		})
	}
}

func TestClusterReplicationDefaults(t *testing.T) {
	want := &Replication{
		Address:    "10.0.0.1:7400",
		Advertise:  "10.0.0.1:7400", // address
		AckTimeout: Duration(2 * time.Second),
		Mode:       "sync",
		NoFollower: "continue",
		Insecure:   true,
	}
	t.Run("parsed", func(t *testing.T) {
		c, err := Parse([]byte(replicationYAML), "triad.yaml")
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if !reflect.DeepEqual(c.Cluster.Replication, want) {
			t.Fatalf("replication\n got %+v\nwant %+v", c.Cluster.Replication, want)
		}
	})
	t.Run("in code", func(t *testing.T) {
		c := minimalWant()
		c.Cluster = &Cluster{Name: "prod", Etcd: Etcd{Endpoints: []string{"http://10.0.0.9:2379"}},
			Replication: &Replication{Address: "10.0.0.1:7400", Insecure: true}}
		c.ApplyDefaults()
		if !reflect.DeepEqual(c.Cluster.Replication, want) {
			t.Fatalf("replication\n got %+v\nwant %+v", c.Cluster.Replication, want)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	})
	for name, doc := range map[string]string{"absent": clusterYAML, "null": clusterYAML + "  replication:\n"} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(doc), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Cluster.Replication != nil {
				t.Fatalf("Replication = %+v, want nil (no replication)", c.Cluster.Replication)
			}
		})
	}
}

// TestClusterThreeNodes parses the configuration of each node of a
// three-node embedded cluster: the same cluster section, but each node's
// own name, data_dir, client_url and peer_url.
func TestClusterThreeNodes(t *testing.T) {
	for i := 1; i <= 3; i++ {
		name := "triad-" + string(rune('0'+i))
		ip := "10.0.0." + string(rune('0'+i))
		doc := `node:
  name: ` + name + `
  data_dir: /var/lib/triad
cluster:
  name: prod
  etcd:
    embedded:
      client_url: http://` + ip + `:2379
      peer_url: http://` + ip + `:2380
      initial_cluster:
        - {name: triad-1, peer_url: "http://10.0.0.1:2380"}
        - {name: triad-2, peer_url: "http://10.0.0.2:2380"}
        - {name: triad-3, peer_url: "http://10.0.0.3:2380"}
mqtt:
  listeners:
    - {type: tcp, address: "0.0.0.0:1883"}
`
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(doc), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			e := c.Cluster.Etcd.Embedded
			if e.PeerURL != "http://"+ip+":2380" || len(e.InitialCluster) != 3 {
				t.Fatalf("embedded = %+v", e)
			}
		})
	}
}

// TestClusterExplicitValuesKept gives every cluster key a value other than
// its default, in two configurations, since cluster.etcd.tls and
// cluster.etcd.embedded exclude each other: an external etcd over https
// with client certificates, and an embedded member with an extra endpoint
// and replication.
func TestClusterExplicitValuesKept(t *testing.T) {
	certPEM, keyPEM := writeCertPair(t)
	tests := []struct {
		name string
		doc  string // the cluster section, after minimalYAML
		want *Cluster
	}{
		{
			name: "external etcd over https",
			doc: `cluster:
  name: eu-west.1_a
  mode: full
  lease_ttl: 5s
  fence_margin: 1s
  etcd:
    endpoints: ["https://etcd-a.example:2379", "https://etcd-b.example:2379"]
    dial_timeout: 750ms
    tls: {cert: ` + certPEM + `, key: ` + keyPEM + `, ca: ` + certPEM + `}
`,
			want: &Cluster{
				Name:        "eu-west.1_a",
				Mode:        "full",
				LeaseTTL:    Duration(5 * time.Second),
				FenceMargin: Duration(time.Second),
				Etcd: Etcd{
					Endpoints:   []string{"https://etcd-a.example:2379", "https://etcd-b.example:2379"},
					DialTimeout: Duration(750 * time.Millisecond),
					TLS:         &EtcdTLS{Cert: certPEM, Key: keyPEM, CA: certPEM},
				},
			},
		},
		{
			name: "embedded member",
			doc: `cluster:
  name: eu-west.1_a
  lease_ttl: 5s
  fence_margin: 1s
  etcd:
    endpoints: ["http://10.0.1.9:2379"]
    dial_timeout: 750ms
    embedded:
      data_dir: /srv/etcd
      client_url: http://localhost:12379
      peer_url: http://[fd00::1]:12380
      initial_cluster:
        - {name: n1, peer_url: "http://[fd00::1]:12380"}
      initial_cluster_state: existing
      tick: 50ms
      election_timeout: 500ms
  replication:
    address: 0.0.0.0:7400
    advertise: triad-1.internal:7401
    ack_timeout: 750ms
    mode: sync
    no_follower: block
    insecure: true
`,
			want: &Cluster{
				Name:        "eu-west.1_a",
				Mode:        "full",
				LeaseTTL:    Duration(5 * time.Second),
				FenceMargin: Duration(time.Second),
				Etcd: Etcd{
					Endpoints:   []string{"http://10.0.1.9:2379"},
					DialTimeout: Duration(750 * time.Millisecond),
					Embedded: &EmbeddedEtcd{
						DataDir:             "/srv/etcd",
						ClientURL:           "http://localhost:12379",
						PeerURL:             "http://[fd00::1]:12380",
						InitialCluster:      []EtcdMember{{Name: "n1", PeerURL: "http://[fd00::1]:12380"}},
						InitialClusterState: "existing",
						Tick:                Duration(50 * time.Millisecond),
						ElectionTimeout:     Duration(500 * time.Millisecond),
					},
				},
				Replication: &Replication{
					Address:    "0.0.0.0:7400",
					Advertise:  "triad-1.internal:7401",
					AckTimeout: Duration(750 * time.Millisecond),
					Mode:       "sync",
					NoFollower: "block",
					Insecure:   true,
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(minimalYAML+tc.doc), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(c.Cluster, tc.want) {
				t.Fatalf("cluster\n got %+v\nwant %+v", c.Cluster, tc.want)
			}
			if !reflect.DeepEqual(c.Cluster.Etcd.Embedded, tc.want.Etcd.Embedded) {
				t.Fatalf("embedded\n got %+v\nwant %+v", c.Cluster.Etcd.Embedded, tc.want.Etcd.Embedded)
			}
		})
	}
}

func TestClusterExternalEtcdOnly(t *testing.T) {
	c, err := Parse([]byte(minimalYAML+"cluster:\n  name: prod\n  etcd:\n    endpoints: [http://10.0.0.9:2379]\n"), "triad.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Cluster.Etcd.Embedded != nil || c.Cluster.Etcd.TLS != nil {
		t.Fatalf("etcd = %+v, want no embedded member and no tls", c.Cluster.Etcd)
	}
}

func TestClusterInCode(t *testing.T) {
	c := minimalWant()
	c.Cluster = &Cluster{Name: "prod", Etcd: Etcd{Embedded: &EmbeddedEtcd{
		ClientURL:      "http://10.0.0.1:2379",
		PeerURL:        "http://10.0.0.1:2380",
		InitialCluster: threeMembers(),
	}}}
	c.ApplyDefaults()
	parsed, err := Parse([]byte(clusterYAML), "triad.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !reflect.DeepEqual(c, parsed) {
		t.Fatalf("defaults in code differ from Parse\n got %+v\nwant %+v", c.Cluster, parsed.Cluster)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	again := *c
	again.ApplyDefaults()
	if !reflect.DeepEqual(&again, c) {
		t.Fatalf("ApplyDefaults is not idempotent: %+v", again.Cluster)
	}
}

// embeddedLine is where clusterYAML's embedded mapping starts (line 13);
// a key inserted after it lands on line 14.
const embeddedLine = "    embedded:\n"

// embeddedSection is clusterYAML's embedded mapping, from embeddedLine to
// the end of the file.
var embeddedSection = embeddedLine + strings.SplitN(clusterYAML, embeddedLine, 2)[1]

// httpsEndpoint replaces embeddedSection, after a tls block, where a case
// needs cluster.etcd.tls: tls cannot be combined with an embedded member,
// so those cases use an external etcd over https.
const httpsEndpoint = "    endpoints: [https://10.0.1.1:2379]\n"

func TestClusterParseErrors(t *testing.T) {
	tests := []struct {
		name        string
		old, new    string // replaced in clusterYAML
		line        int
		path, value string
	}{
		// cluster
		{name: "name missing", old: "  name: prod\n", new: "", line: 10, path: "cluster.name", value: "missing: the cluster name"},
		{name: "name invalid", old: "name: prod", new: "name: prod/eu", line: 11, path: "cluster.name", value: `"prod/eu" must be 1 to 63 characters`},
		{name: "name too long", old: "name: prod", new: "name: " + strings.Repeat("x", 64), line: 11, path: "cluster.name", value: `"` + strings.Repeat("x", 64) + `" must be 1 to 63`},
		{name: "lease_ttl too short", old: "  name: prod\n", new: "  name: prod\n  lease_ttl: 500ms\n", line: 12, path: "cluster.lease_ttl", value: "500ms is too short; must be at least 1s"},
		{name: "lease_ttl explicit zero", old: "  name: prod\n", new: "  name: prod\n  lease_ttl: 0\n", line: 12, path: "cluster.lease_ttl", value: "0s is too short"},
		{name: "lease_ttl not a duration", old: "  name: prod\n", new: "  name: prod\n  lease_ttl: 2 s\n", line: 12, path: "cluster.lease_ttl", value: `"2 s" is not a duration`},
		{name: "fence_margin zero", old: "  name: prod\n", new: "  name: prod\n  fence_margin: 0s\n", line: 12, path: "cluster.fence_margin", value: "0s must be above 0 and at most half of cluster.lease_ttl (2s)"},
		{name: "fence_margin over half the ttl", old: "  name: prod\n", new: "  name: prod\n  lease_ttl: 3s\n  fence_margin: 1600ms\n", line: 13, path: "cluster.fence_margin", value: "1.6s must be above 0 and at most half of cluster.lease_ttl (3s)"},
		// cluster.etcd
		{name: "dial_timeout zero", old: "  etcd:\n", new: "  etcd:\n    dial_timeout: 0\n", line: 13, path: "cluster.etcd.dial_timeout", value: "0s must be above 0"},
		{name: "no etcd", old: "  etcd:\n" + strings.SplitN(clusterYAML, "  etcd:\n", 2)[1], new: "", line: 10, path: "cluster.etcd", value: "missing: give endpoints of an external etcd, or embedded, or both"},
		{name: "empty etcd", old: "  etcd:\n" + strings.SplitN(clusterYAML, "  etcd:\n", 2)[1], new: "  etcd: {endpoints: []}\n", line: 12, path: "cluster.etcd", value: "missing: give endpoints"},
		{name: "endpoint not a URL", old: "  etcd:\n", new: "  etcd:\n    endpoints: [\"10.0.0.9:2379\"]\n", line: 13, path: "cluster.etcd.endpoints[0]", value: `"10.0.0.9:2379" is not an http:// or https:// URL with a host`},
		{name: "endpoint wrong scheme", old: "  etcd:\n", new: "  etcd:\n    endpoints:\n      - http://10.0.0.9:2379\n      - unix:///run/etcd.sock\n", line: 15, path: "cluster.etcd.endpoints[1]", value: `"unix:///run/etcd.sock" is not an http:// or https://`},
		{name: "endpoint empty", old: "  etcd:\n", new: "  etcd:\n    endpoints: [\"\"]\n", line: 13, path: "cluster.etcd.endpoints[0]", value: "missing: a URL"},
		// cluster.etcd.tls, on line 13 (with an external etcd over https)
		{name: "tls cert without key", old: embeddedSection, new: "    tls:\n      cert: /etc/triad/etcd.pem\n" + httpsEndpoint, line: 13, path: "cluster.etcd.tls.key", value: `missing: cert "/etc/triad/etcd.pem" needs its key`},
		{name: "tls key without cert", old: embeddedSection, new: "    tls:\n      key: /etc/triad/etcd-key.pem\n" + httpsEndpoint, line: 13, path: "cluster.etcd.tls.cert", value: `missing: key "/etc/triad/etcd-key.pem" needs its certificate`},
		{name: "tls cert unreadable", old: embeddedSection, new: "    tls:\n      cert: /nonexistent/etcd.pem\n      key: /nonexistent/etcd-key.pem\n" + httpsEndpoint, line: 14, path: "cluster.etcd.tls.cert", value: `"/nonexistent/etcd.pem" cannot be read: no such file or directory`},
		{name: "tls ca unreadable", old: embeddedSection, new: "    tls: {ca: /nonexistent/ca.pem}\n" + httpsEndpoint, line: 13, path: "cluster.etcd.tls.ca", value: `"/nonexistent/ca.pem" cannot be read`},
		{name: "tls with embedded", old: "  etcd:\n", new: "  etcd:\n    tls: {}\n", line: 13, path: "cluster.etcd.tls", value: "cannot be combined with cluster.etcd.embedded, whose member serves plain http; use an external etcd over https, or the embedded member without tls"},
		{name: "tls with embedded and https endpoints", old: "  etcd:\n", new: "  etcd:\n" + httpsEndpoint + "    tls: {}\n", line: 14, path: "cluster.etcd.tls", value: "cannot be combined with cluster.etcd.embedded, whose member serves plain http"},
		// cluster.etcd.embedded URLs
		{name: "client_url missing", old: "      client_url: http://10.0.0.1:2379\n", new: "", line: 13, path: "cluster.etcd.embedded.client_url", value: "missing: a URL"},
		{name: "client_url not a URL", old: "client_url: http://10.0.0.1:2379", new: "client_url: 10.0.0.1:2379", line: 14, path: "cluster.etcd.embedded.client_url", value: `"10.0.0.1:2379" is not an http:// URL with a host and port`},
		{name: "client_url https", old: "client_url: http://", new: "client_url: https://", line: 14, path: "cluster.etcd.embedded.client_url", value: `"https://10.0.0.1:2379": the embedded etcd member speaks plain http only`},
		{name: "client_url hostname", old: "client_url: http://10.0.0.1:2379", new: "client_url: http://etcd-1:2379", line: 14, path: "cluster.etcd.embedded.client_url", value: `"http://etcd-1:2379": the host must be an IP address or localhost`},
		{name: "client_url unspecified", old: "client_url: http://10.0.0.1:2379", new: "client_url: http://0.0.0.0:2379", line: 14, path: "cluster.etcd.embedded.client_url", value: `"http://0.0.0.0:2379": 0.0.0.0 cannot be advertised to the other members`},
		{name: "client_url without port", old: "client_url: http://10.0.0.1:2379", new: "client_url: http://10.0.0.1", line: 14, path: "cluster.etcd.embedded.client_url", value: `"http://10.0.0.1" has no port`},
		{name: "client_url bad port", old: "client_url: http://10.0.0.1:2379", new: "client_url: http://10.0.0.1:99999", line: 14, path: "cluster.etcd.embedded.client_url", value: `"http://10.0.0.1:99999" has port "99999", which is not a number in 1..65535`},
		{name: "peer_url missing", old: "      peer_url: http://10.0.0.1:2380\n", new: "", line: 13, path: "cluster.etcd.embedded.peer_url", value: "missing: a URL"},
		{name: "peer_url is client_url", old: "      peer_url: http://10.0.0.1:2380\n", new: "      peer_url: http://10.0.0.1:2379\n", line: 15, path: "cluster.etcd.embedded.peer_url", value: `"http://10.0.0.1:2379" uses the address of cluster.etcd.embedded.client_url "http://10.0.0.1:2379"`},
		// cluster.etcd.embedded.initial_cluster
		{name: "initial_cluster missing", old: "      initial_cluster:\n" + strings.SplitN(clusterYAML, "      initial_cluster:\n", 2)[1], new: "", line: 13, path: "cluster.etcd.embedded.initial_cluster", value: "missing: list every member"},
		{name: "initial_cluster empty", old: "      initial_cluster:\n" + strings.SplitN(clusterYAML, "      initial_cluster:\n", 2)[1], new: "      initial_cluster: []\n", line: 16, path: "cluster.etcd.embedded.initial_cluster", value: "missing: list every member"},
		{name: "member name missing", old: "        - name: n2\n          peer_url", new: "        - peer_url", line: 19, path: "cluster.etcd.embedded.initial_cluster[1].name", value: "missing: the node.name of the member"},
		{name: "member name invalid", old: "- name: n2", new: "- name: n 2", line: 19, path: "cluster.etcd.embedded.initial_cluster[1].name", value: `"n 2" must be 1 to 63 characters`},
		{name: "member name twice", old: "- name: n3", new: "- name: n2", line: 21, path: "cluster.etcd.embedded.initial_cluster[2].name", value: `"n2" is already initial_cluster[1]`},
		{name: "member peer_url twice", old: "peer_url: http://10.0.0.3:2380", new: "peer_url: http://10.0.0.2:2380", line: 22, path: "cluster.etcd.embedded.initial_cluster[2].peer_url", value: `"http://10.0.0.2:2380" is already the peer_url of initial_cluster[1]`},
		{name: "member peer_url missing", old: "          peer_url: http://10.0.0.3:2380\n", new: "", line: 21, path: "cluster.etcd.embedded.initial_cluster[2].peer_url", value: "missing: a URL"},
		{name: "member peer_url https", old: "peer_url: http://10.0.0.3:2380", new: "peer_url: https://10.0.0.3:2380", line: 22, path: "cluster.etcd.embedded.initial_cluster[2].peer_url", value: `"https://10.0.0.3:2380": the embedded etcd member speaks plain http only`},
		{name: "this node not listed", old: "- name: n1", new: "- name: n4", line: 16, path: "cluster.etcd.embedded.initial_cluster", value: `this node (node.name "n1") is not listed`},
		{name: "this node's peer_url differs", old: "name: n1\n          peer_url: http://10.0.0.1:2380", new: "name: n1\n          peer_url: http://10.0.0.9:2380", line: 18, path: "cluster.etcd.embedded.initial_cluster[0].peer_url", value: `"http://10.0.0.9:2380" differs from cluster.etcd.embedded.peer_url "http://10.0.0.1:2380"`},
		// cluster.etcd.embedded: state and timing
		{name: "initial_cluster_state invalid", old: embeddedLine, new: embeddedLine + "      initial_cluster_state: joining\n", line: 14, path: "cluster.etcd.embedded.initial_cluster_state", value: `"joining" is not one of new, existing`},
		{name: "tick zero", old: embeddedLine, new: embeddedLine + "      tick: 0\n", line: 14, path: "cluster.etcd.embedded.tick", value: "0s is too short; must be at least 1ms"},
		{name: "tick not whole ms", old: embeddedLine, new: embeddedLine + "      tick: 1500us\n", line: 14, path: "cluster.etcd.embedded.tick", value: "1.5ms is not a whole number of milliseconds"},
		{name: "election_timeout under 5 ticks", old: embeddedLine, new: embeddedLine + "      election_timeout: 400ms\n", line: 14, path: "cluster.etcd.embedded.election_timeout", value: "400ms must be at least 5 ticks (500ms)"},
		{name: "election_timeout under 5 explicit ticks", old: embeddedLine, new: embeddedLine + "      tick: 300ms\n      election_timeout: 1s\n", line: 15, path: "cluster.etcd.embedded.election_timeout", value: "1s must be at least 5 ticks (1.5s)"},
		{name: "election_timeout too long", old: embeddedLine, new: embeddedLine + "      election_timeout: 51s\n", line: 14, path: "cluster.etcd.embedded.election_timeout", value: "51s is too long; etcd allows at most 50s"},
		{name: "election_timeout not whole ms", old: embeddedLine, new: embeddedLine + "      election_timeout: 1000500us\n", line: 14, path: "cluster.etcd.embedded.election_timeout", value: "1.0005s is not a whole number of milliseconds"},
		// cluster.replication, appended after lastMember: replication on line 23, its keys from 24
		{name: "replication address missing", old: lastMember, new: lastMember + "  replication:\n    ack_timeout: 1s\n", line: 23, path: "cluster.replication.address", value: `missing: a host:port address`},
		{name: "replication empty", old: lastMember, new: lastMember + "  replication: {}\n", line: 23, path: "cluster.replication.address", value: `missing: a host:port address`},
		{name: "replication address without port", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1\n", line: 24, path: "cluster.replication.address", value: `"10.0.0.1" is not a host:port address (missing port in address)`},
		{name: "replication address bad port", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:70000\n", line: 24, path: "cluster.replication.address", value: `"10.0.0.1:70000" has port "70000", which is not a number in 0..65535`},
		{name: "replication address is an mqtt listener's", old: lastMember, new: lastMember + "  replication:\n    address: 127.0.0.1:1883\n", line: 24, path: "cluster.replication.address", value: `"127.0.0.1:1883" is already used by mqtt.listeners[0].address`},
		{name: "replication address is http's", old: lastMember, new: lastMember + "  replication:\n    address: 127.0.0.1:8008\n", line: 24, path: "cluster.replication.address", value: `"127.0.0.1:8008" is already used by http.address`},
		{name: "advertise defaults to an unspecified address", old: lastMember, new: lastMember + "  replication:\n    address: 0.0.0.0:7400\n", line: 23, path: "cluster.replication.advertise", value: `"0.0.0.0:7400": 0.0.0.0 means every interface of this node, not an address followers can dial; give this node's IP address or host name (advertise defaults to cluster.replication.address)`},
		{name: "advertise defaults to port 0", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:0\n", line: 23, path: "cluster.replication.advertise", value: `"10.0.0.1:0" has port "0", which followers cannot dial; give a port in 1..65535 (advertise defaults to cluster.replication.address)`},
		{name: "advertise unspecified IPv6", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    advertise: \"[::]:7400\"\n", line: 25, path: "cluster.replication.advertise", value: `"[::]:7400": :: means every interface of this node`},
		{name: "advertise empty host", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    advertise: \":7400\"\n", line: 25, path: "cluster.replication.advertise", value: `":7400": an empty host means every interface of this node`},
		{name: "advertise port 0", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    advertise: 10.0.0.1:0\n", line: 25, path: "cluster.replication.advertise", value: `"10.0.0.1:0" has port "0", which followers cannot dial; give a port in 1..65535`},
		{name: "advertise without port", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    advertise: triad-1\n", line: 25, path: "cluster.replication.advertise", value: `"triad-1" is not a host:port address`},
		{name: "ack_timeout zero", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    ack_timeout: 0\n", line: 25, path: "cluster.replication.ack_timeout", value: "0s must be above 0"},
		{name: "ack_timeout not a duration", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    ack_timeout: 2 s\n", line: 25, path: "cluster.replication.ack_timeout", value: `"2 s" is not a duration`},
		{name: "no_follower invalid", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    no_follower: wait\n", line: 25, path: "cluster.replication.no_follower", value: `"wait" is not one of continue, block`},
		// strict decoding
		{name: "unknown key in cluster", old: "  name: prod\n", new: "  name: prod\n  leader_ttl: 2s\n", line: 12, path: "cluster.leader_ttl", value: `unknown key (did you mean "lease_ttl"?)`},
		{name: "unknown key in etcd", old: "  etcd:\n", new: "  etcd:\n    endpoint: [http://10.0.0.9:2379]\n", line: 13, path: "cluster.etcd.endpoint", value: `unknown key (did you mean "endpoints"?)`},
		{name: "unknown key in tls", old: embeddedSection, new: "    tls: {cacert: /ca.pem}\n" + httpsEndpoint, line: 13, path: "cluster.etcd.tls.cacert", value: "unknown key"},
		{name: "unknown key in embedded", old: embeddedLine, new: embeddedLine + "      datadir: /srv/etcd\n", line: 14, path: "cluster.etcd.embedded.datadir", value: `unknown key (did you mean "data_dir"?)`},
		{name: "unknown key in member", old: "          peer_url: http://10.0.0.2:2380\n", new: "          peerurl: http://10.0.0.2:2380\n", line: 20, path: "cluster.etcd.embedded.initial_cluster[1].peerurl", value: `unknown key (did you mean "peer_url"?)`},
		{name: "unknown key in replication", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    ack_timeot: 1s\n", line: 25, path: "cluster.replication.ack_timeot", value: `unknown key (did you mean "ack_timeout"?)`},
		{name: "unknown key in replication tls", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    tls: {cacert: /ca.pem}\n", line: 25, path: "cluster.replication.tls.cacert", value: "unknown key"},
		{name: "mode invalid", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    insecure: true\n    mode: semi\n", line: 26, path: "cluster.replication.mode", value: `"semi" is not one of sync, async`},
		{name: "async with block", old: lastMember, new: lastMember + "  replication:\n    address: 10.0.0.1:7400\n    insecure: true\n    mode: async\n    no_follower: block\n", line: 27, path: "cluster.replication.no_follower", value: "block cannot be combined with mode: async"},
		{name: "scalar for replication", old: lastMember, new: lastMember + "  replication: 10.0.0.1:7400\n", line: 23, path: "cluster.replication", value: `expected a mapping of keys, got "10.0.0.1:7400"`},
		{name: "duplicate key in cluster", old: "  name: prod\n", new: "  name: prod\n  name: test\n", line: 12, path: "cluster.name", value: "duplicate key (first given on line 11)"},
		{name: "scalar for embedded", old: embeddedSection, new: "    embedded: yes\n", line: 13, path: "cluster.etcd.embedded", value: `expected a mapping of keys, got "yes"`},
		{name: "scalar for initial_cluster", old: "      initial_cluster:\n" + strings.SplitN(clusterYAML, "      initial_cluster:\n", 2)[1], new: "      initial_cluster: n1=http://10.0.0.1:2380\n", line: 16, path: "cluster.etcd.embedded.initial_cluster", value: `expected a list, got "n1=http://10.0.0.1:2380"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(clusterWith(t, tc.old, tc.new)), "triad.yaml")
			assertErrLine(t, err, tc.line, tc.path, tc.value)
		})
	}
}

// TestClusterReplicationAddressReportedOnce checks that a malformed
// address is not reported again as the advertise address it defaults to.
func TestClusterReplicationAddressReportedOnce(t *testing.T) {
	_, err := Parse([]byte(clusterWith(t, lastMember, lastMember+"  replication:\n    address: 10.0.0.1\n    insecure: true\n")), "triad.yaml")
	assertErrLine(t, err, 24, "cluster.replication.address", `"10.0.0.1" is not a host:port address`)
	if n := strings.Count(err.Error(), "cluster.replication"); n != 1 {
		t.Fatalf("want one error about cluster.replication, got %d:\n%v", n, err)
	}
}

// TestClusterNodeNameMissing checks that a missing node.name is reported
// once, not again as "this node is not listed".
func TestClusterNodeNameMissing(t *testing.T) {
	_, err := Parse([]byte(clusterWith(t, "  name: n1\n", "")), "triad.yaml")
	assertErrLine(t, err, 1, "node.name", "missing")
	if strings.Contains(err.Error(), "not listed") {
		t.Fatalf("a missing node.name should not also be reported as unlisted:\n%v", err)
	}
}

func TestClusterTLSFiles(t *testing.T) {
	certPEM, keyPEM := writeCertPair(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		tls         string // the flow mapping of cluster.etcd.tls, on line 13, with an external etcd over https
		path, value string // "" path: valid
	}{
		{name: "cert, key and ca", tls: "{cert: " + certPEM + ", key: " + keyPEM + ", ca: " + certPEM + "}"},
		{name: "ca only", tls: "{ca: " + certPEM + "}"},
		{name: "empty: system roots", tls: "{}"},
		{name: "ca not PEM", tls: "{ca: " + notPEM + "}", path: "cluster.etcd.tls.ca", value: `"` + notPEM + `" holds no PEM certificate`},
		{name: "key is not the cert's", tls: "{cert: " + certPEM + ", key: " + notPEM + "}", path: "cluster.etcd.tls.cert", value: `cert "` + certPEM + `" and key "` + notPEM + `" do not load as a key pair`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := clusterWith(t, embeddedSection, "    tls: "+tc.tls+"\n"+httpsEndpoint)
			c, err := Parse([]byte(doc), "triad.yaml")
			if tc.path == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c.Cluster.Etcd.TLS == nil {
					t.Fatal("tls block lost")
				}
				if c.Cluster.Etcd.Embedded != nil {
					t.Fatalf("embedded = %+v, want none", c.Cluster.Etcd.Embedded)
				}
				return
			}
			assertErrLine(t, err, 13, tc.path, tc.value)
		})
	}
}

func TestClusterValidateReportsEverything(t *testing.T) {
	c := minimalWant()
	c.Cluster = &Cluster{Name: "bad name", Etcd: Etcd{Embedded: &EmbeddedEtcd{
		ClientURL:      "https://10.0.0.1:2379",
		InitialCluster: []EtcdMember{{Name: "n2", PeerURL: "http://10.0.0.2:2380"}},
	}}, Replication: &Replication{Address: "127.0.0.1:1883", Advertise: "0.0.0.0:7400", NoFollower: "never"}}
	c.ApplyDefaults()
	err := c.Validate()
	for _, want := range []string{
		`cluster.name: "bad name" must be`,
		"cluster.etcd.embedded.client_url: \"https://10.0.0.1:2379\": the embedded etcd member speaks plain http only",
		"cluster.etcd.embedded.peer_url: missing",
		`cluster.etcd.embedded.initial_cluster: this node (node.name "n1") is not listed`,
		`cluster.replication.address: "127.0.0.1:1883" is already used by mqtt.listeners[0].address`,
		`cluster.replication.advertise: "0.0.0.0:7400": 0.0.0.0 means every interface`,
		`cluster.replication.no_follower: "never" is not one of continue, block`,
	} {
		if err == nil || !containsLine(err.Error(), want) {
			t.Errorf("err = %v\nwant a line containing %q", err, want)
		}
	}
}
