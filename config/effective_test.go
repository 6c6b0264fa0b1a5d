package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestEffectiveRoundTrip(t *testing.T) {
	certPEM, keyPEM := writeCertPair(t)
	inputs := []struct {
		name string
		yaml string
	}{
		{name: "minimal", yaml: minimalYAML},
		{name: "everything", yaml: `node: {name: n1, data_dir: rel/dir}
mqtt:
  listeners:
    - {id: plain, type: tcp, address: ":1883"}
    - type: tls
      address: ":8883"
      tls: {cert: ` + certPEM + `, key: ` + keyPEM + `, client_ca: ` + certPEM + `, min_version: "1.3"}
    - type: websocket
      address: ":8084"
      tls: {cert: ` + certPEM + `, key: ` + keyPEM + `, client_ca: ` + certPEM + `, require_client_cert: false}
  limits:
    max_clients: 10
    max_packet_size: 0
    max_inflight: 1
    receive_maximum: 2
    max_queued_messages: 3
    message_expiry: 1h30m
    session_expiry_max: 3600
store: {max_batch: 1, max_batch_age: 2ms, no_sync: true}
log: {level: debug, format: json}
`},
		{name: "cluster defaults", yaml: clusterYAML},
		// cluster.etcd.tls and cluster.etcd.embedded exclude each other:
		// every cluster key is given in one or the other.
		{name: "cluster everything external", yaml: minimalYAML + `cluster:
  name: prod
  lease_ttl: 3s
  fence_margin: 750ms
  etcd:
    endpoints: [https://etcd-a.example:2379, https://etcd-b.example:2379]
    dial_timeout: 1s
    tls: {cert: ` + certPEM + `, key: ` + keyPEM + `, ca: ` + certPEM + `}
`},
		{name: "cluster everything embedded", yaml: minimalYAML + `cluster:
  name: prod
  lease_ttl: 3s
  fence_margin: 750ms
  etcd:
    endpoints: [http://etcd.example:2379]
    dial_timeout: 1s
    embedded:
      data_dir: rel/etcd
      client_url: http://127.0.0.1:2379
      peer_url: http://127.0.0.1:2380
      initial_cluster: [{name: n1, peer_url: "http://127.0.0.1:2380"}]
      initial_cluster_state: existing
      tick: 50ms
      election_timeout: 500ms
  replication:
    address: 0.0.0.0:7400
    advertise: 127.0.0.1:7401
    ack_timeout: 750ms
    mode: sync
    no_follower: block
    tls: {ca: ` + certPEM + `, cert: ` + certPEM + `, key: ` + keyPEM + `}
`},
		{name: "cluster replication defaults", yaml: replicationYAML},
		{name: "cluster external etcd", yaml: minimalYAML + "cluster: {name: prod, etcd: {endpoints: [http://10.0.0.9:2379], tls: {ca: " + certPEM + "}}}\n"},
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			c, err := Parse([]byte(in.yaml), "in.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out, err := c.Effective()
			if err != nil {
				t.Fatalf("Effective: %v", err)
			}
			back, err := Parse(out, "effective.yaml")
			if err != nil {
				t.Fatalf("re-Parse:\n%s\n%v", out, err)
			}
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("re-parsed config differs\n got %+v\nwant %+v\nyaml:\n%s", back, c, out)
			}
		})
	}
}

func TestEffectiveShowsDefaults(t *testing.T) {
	c, err := Parse([]byte(minimalYAML), "triad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"id: tcp0", "max_packet_size: 1048576", "message_expiry: 0s", "max_batch: 4096", "level: info", "format: text"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("effective config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "tls") {
		t.Errorf("a tcp listener should show no tls block:\n%s", out)
	}
}

// TestEffectiveCluster checks the cluster section check-config prints:
// every key with its default, right after node, and the replication block
// only when given; nothing when absent.
func TestEffectiveCluster(t *testing.T) {
	c, err := Parse([]byte(clusterYAML), "triad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	const want = `node:
  name: n1
  data_dir: /var/lib/triad
cluster:
  name: prod
  mode: full
  lease_ttl: 2s
  fence_margin: 500ms
  etcd:
    endpoints: []
    dial_timeout: 2s
    embedded:
      data_dir: /var/lib/triad/etcd
      client_url: http://10.0.0.1:2379
      peer_url: http://10.0.0.1:2380
      initial_cluster:
        - name: n1
          peer_url: http://10.0.0.1:2380
        - name: n2
          peer_url: http://10.0.0.2:2380
        - name: n3
          peer_url: http://10.0.0.3:2380
      initial_cluster_state: new
      tick: 100ms
      election_timeout: 1s
mqtt:
`
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("effective config does not start with\n%s\ngot:\n%s", want, out)
	}
	if strings.Contains(string(out), "replication") {
		t.Errorf("a cluster without replication shows a replication block:\n%s", out)
	}

	// With replication: its block follows etcd, every default written out.
	c, err = Parse([]byte(replicationYAML), "triad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err = c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	const wantReplication = `      election_timeout: 1s
  replication:
    address: 10.0.0.1:7400
    advertise: 10.0.0.1:7400
    ack_timeout: 2s
    mode: sync
    no_follower: continue
    insecure: true
mqtt:
`
	if !strings.Contains(string(out), wantReplication) {
		t.Errorf("effective config lacks\n%s\ngot:\n%s", wantReplication, out)
	}

	standalone, err := Parse([]byte(minimalYAML), "triad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err = standalone.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"cluster", "etcd", "lease_ttl", "fence_margin", "replication"} {
		if strings.Contains(string(out), key) {
			t.Errorf("a standalone node's effective config mentions %q:\n%s", key, out)
		}
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name, level, format string
		wantDebug           bool
		wantInfo            bool
		wantPrefix          string
	}{
		{name: "defaults", level: "info", format: "text", wantInfo: true, wantPrefix: "time="},
		{name: "debug json", level: "debug", format: "json", wantDebug: true, wantInfo: true, wantPrefix: "{"},
		{name: "warn", level: "warn", format: "text"},
		{name: "error", level: "error", format: "json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := &Config{Log: Log{Level: tc.level, Format: tc.format}}
			log := c.Logger(&buf)
			log.Debug("d-msg")
			log.Info("i-msg")
			out := buf.String()
			if got := strings.Contains(out, "d-msg"); got != tc.wantDebug {
				t.Errorf("debug logged = %v, want %v: %q", got, tc.wantDebug, out)
			}
			if got := strings.Contains(out, "i-msg"); got != tc.wantInfo {
				t.Errorf("info logged = %v, want %v: %q", got, tc.wantInfo, out)
			}
			if tc.wantPrefix != "" && !strings.HasPrefix(out, tc.wantPrefix) {
				t.Errorf("output %q does not start with %q", out, tc.wantPrefix)
			}
		})
	}
}
