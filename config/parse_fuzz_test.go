package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse and checks, for any input:
//
//   - no panic, no hang;
//   - a refusal is made of *Error values that name this file;
//   - an accepted configuration validates, and its effective rendering
//     (Effective, what `triad check-config` prints) parses back to an equal
//     configuration and renders the same again.
//
// The seeds name the TLS files of testdata/fuzz/tls (a self-signed
// certificate that is its own CA, valid until 9999, and its key: test
// material only), so that configurations with TLS sections validate and
// reach the round trip.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if bad := notConfigErrors(err, "fuzz.yaml"); bad != nil {
				t.Fatalf("Parse(%q): %v is not an *Error of fuzz.yaml (%T)", data, bad, bad)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a configuration that does not validate: %v", data, err)
		}
		out, err := c.Effective()
		if err != nil {
			t.Fatalf("Effective of Parse(%q): %v", data, err)
		}
		back, err := Parse(out, "effective.yaml")
		if err != nil {
			t.Fatalf("the effective configuration of %q does not parse:\n%s\n%v", data, out, err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("the effective configuration of %q parses to another configuration:\n%s\n got %+v\nwant %+v", data, out, back, c)
		}
		again, err := back.Effective()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("the effective configuration of %q renders differently the second time (%v):\n%s\n%s", data, err, out, again)
		}
	})
}

// notConfigErrors returns the first error in err (one, or an errors.Join
// of several) that is not an *Error naming file, or nil.
func notConfigErrors(err error, file string) error {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, e := range list {
		var ce *Error
		if !errors.As(e, &ce) || ce.File != file {
			return e
		}
	}
	return nil
}

// The seed corpus.

// Test TLS files for the seeds, relative to the package directory (where
// go test runs).
const (
	fuzzCert = "testdata/fuzz/tls/cert.pem"
	fuzzKey  = "testdata/fuzz/tls/key.pem"
)

// withFuzzCerts replaces the PEM file paths of an example (under
// /etc/triad/) by the test files: keys by fuzzKey, certificates and CAs
// by fuzzCert.
func withFuzzCerts(doc []byte) []byte {
	doc = regexp.MustCompile(`/etc/triad/[\w./-]*?(-key\.pem|\.key)\b`).ReplaceAll(doc, []byte(fuzzKey))
	return regexp.MustCompile(`/etc/triad/[\w./-]*?\.pem\b`).ReplaceAll(doc, []byte(fuzzCert))
}

// parseSeeds are the seeds written here: configurations that set every
// key (with TLS everywhere it goes), and the edge cases of YAML and of
// each value's grammar.
var parseSeeds = map[string]string{
	"everything": `node: {name: n1, data_dir: rel/dir}
mqtt:
  listeners:
    - {id: plain, type: tcp, address: ":1883"}
    - type: tls
      address: "[::1]:8883"
      tls: {cert: ` + fuzzCert + `, key: ` + fuzzKey + `, client_ca: ` + fuzzCert + `, min_version: "1.3"}
    - type: websocket
      address: 0.0.0.0:8084
      tls: {cert: ` + fuzzCert + `, key: ` + fuzzKey + `, client_ca: ` + fuzzCert + `, require_client_cert: false}
    - {type: websocket, address: "localhost:0"}
  limits:
    max_clients: 10
    max_packet_size: 0
    max_inflight: 1
    receive_maximum: 65535
    max_queued_messages: 3
    message_expiry: 1h30m
    session_expiry_max: 3600
  auth_rate_limit: {failures: 3, window: 10s, block: 5m}
http: {address: "127.0.0.1:8008"}
store: {max_batch: 1, max_batch_age: 2ms, no_sync: true}
dynsec: {enabled: true, allow_anonymous: true, file: /tmp/ds.json}
log: {level: debug, format: json}
`,
	"cluster-external": `node: {name: n1, data_dir: /var/lib/triad}
mqtt: {listeners: [{type: tcp, address: 127.0.0.1:1883}]}
cluster:
  name: prod
  lease_ttl: 3s
  fence_margin: 750ms
  etcd:
    endpoints: [https://etcd-a.example:2379, https://etcd-b.example:2379]
    dial_timeout: 1s
    tls: {cert: ` + fuzzCert + `, key: ` + fuzzKey + `, ca: ` + fuzzCert + `}
`,
	"cluster-embedded-replication": `node: {name: n1, data_dir: /var/lib/triad}
mqtt: {listeners: [{type: tcp, address: 127.0.0.1:1883}]}
http: {address: 127.0.0.1:8008}
cluster:
  name: prod
  etcd:
    endpoints: [http://etcd.example:2379]
    embedded:
      data_dir: rel/etcd
      client_url: http://127.0.0.1:2379
      peer_url: http://127.0.0.1:2380
      initial_cluster: [{name: n1, peer_url: "http://127.0.0.1:2380"}, {name: n2, peer_url: "http://127.0.0.2:2380"}]
      initial_cluster_state: existing
      tick: 50ms
      election_timeout: 500ms
  replication:
    address: 0.0.0.0:7400
    advertise: 127.0.0.1:7401
    ack_timeout: 750ms
    mode: sync
    no_follower: block
    tls: {ca: ` + fuzzCert + `, cert: ` + fuzzCert + `, key: ` + fuzzKey + `}
`,
	"cluster-insecure": `node: {name: n1, data_dir: /d}
mqtt: {listeners: [{type: tcp, address: ":1883"}]}
cluster:
  name: c
  etcd: {endpoints: [http://10.0.0.9:2379]}
  replication: {address: "10.0.0.1:7400", insecure: true}
`,
	"yaml-anchors": `node: {name: &n n1, data_dir: &d /d}
mqtt: {listeners: [&l {type: tcp, address: &a ":1883"}, {type: websocket, address: ":1884"}]}
dynsec: {file: *d}
cluster: {name: *n, etcd: {endpoints: &e [http://e:2379]}, replication: {address: "127.0.0.1:7400", insecure: true}}
`,
	"yaml-merge-key": `base: &l {type: tcp, address: ":1883"}
node: &n {name: n1, data_dir: /d}
mqtt: {listeners: [*l, {<<: *l, address: ":1884"}]}
cluster: {name: c, etcd: {endpoints: *l}}
`,
	"cluster-async": `node: {name: n1, data_dir: /d}
mqtt: {listeners: [{type: tcp, address: ":1883"}]}
cluster:
  name: c
  etcd: {endpoints: [http://10.0.0.9:2379]}
  replication: {address: "10.0.0.1:7400", mode: async, no_follower: continue, tls: {ca: ` + fuzzCert + `, cert: ` + fuzzCert + `, key: ` + fuzzKey + `}}
`,
	"yaml-tags":             "node: {name: !!str 123, data_dir: !!binary L2Q=}\nmqtt: {listeners: [{type: tcp, address: ':1883'}], limits: {max_clients: 0x10, max_inflight: 0o17, max_queued_messages: 1_000}}\n",
	"yaml-null-values":      "node: {name: n1, data_dir: /d}\ncluster:\nhttp: ~\nmqtt: {listeners: [{type: tcp, address: ':1883', tls: null}], limits: {max_packet_size: null}}\nlog: {level: , format: null}\n",
	"yaml-quoted":           "node: {name: \"n1\", data_dir: '/d ir/\\u00e9'}\nmqtt: {listeners: [{id: \"a\\tb\", type: tcp, address: \"[fe80::1%eth0]:1883\"}]}\ndynsec: {file: \"\\x41\\n\"}\n",
	"yaml-block-scalars":    "node:\n  name: n1\n  data_dir: |\n    /multi\n    line\nmqtt:\n  listeners:\n    - type: tcp\n      address: >-\n        :1883\n",
	"yaml-duplicate":        "node: {name: a, name: b, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}]}\n",
	"yaml-unknown-key":      "node: {name: a, data_dir: /d, dta_dir: /e}\nmqtt: {listeners: [{type: tcp, address: ':1883'}]}\nlogs: {}\n",
	"yaml-complex-key":      "? [a, b]\n: c\n{x: 1}: 2\n",
	"yaml-two-documents":    "node: {name: a}\n---\nnode: {name: b}\n",
	"yaml-scalar-top":       "just a string\n",
	"yaml-list-top":         "- node\n- mqtt\n",
	"yaml-empty":            "",
	"yaml-comment-only":     "# nothing\n",
	"yaml-null-top":         "~\n",
	"yaml-tab-indent":       "node:\n\tname: a\n",
	"yaml-unclosed":         "node: {name: a\nmqtt: [\n",
	"yaml-bom":              "\ufeffnode: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}]}\n",
	"yaml-invalid-utf8":     "node: {name: \"\xff\xfe\", data_dir: /d}\n",
	"yaml-nul":              "node: {name: \"a\\0b\", data_dir: \"/d\\0\"}\nmqtt: {listeners: [{type: tcp, address: ':1883'}]}\n",
	"yaml-deep":             "node: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n",
	"yaml-wrong-types":      "node: [a]\nmqtt: {listeners: {type: tcp}, limits: {max_clients: [1], max_inflight: true, max_packet_size: -1, receive_maximum: 65536, max_queued_messages: 1.5}}\nstore: {no_sync: yes}\n",
	"int-bounds":            "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}], limits: {max_clients: 9223372036854775807, max_packet_size: 4294967295, max_inflight: 65535, max_queued_messages: -9223372036854775808}}\n",
	"int-overflow":          "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}], limits: {max_clients: 9223372036854775808, max_packet_size: 4294967296}}\n",
	"durations":             "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}], limits: {message_expiry: 2562047h47m16.854775807s, session_expiry_max: 9223372036}}\nstore: {max_batch_age: 1ns}\ncluster: {name: c, lease_ttl: 1.5h, fence_margin: 1s, etcd: {endpoints: [http://e:2379], dial_timeout: ' 5 '}}\n",
	"durations-bad":         "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}], limits: {message_expiry: -1s, session_expiry_max: 9223372037}}\nstore: {max_batch_age: [1s]}\ncluster: {name: c, lease_ttl: 1d}\n",
	"addresses":             "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}, {type: tcp, address: 'LOCALHOST:1883'}, {type: websocket, address: 'localhost:01883'}, {type: tcp, address: ':65536'}, {type: tcp, address: 'nohost'}, {type: tcp, address: '[::1:1883'}]}\nhttp: {address: ':1883'}\n",
	"listener-ids":          "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1'}, {id: tcp0, type: tcp, address: ':2'}, {id: '', type: udp, address: ':3'}]}\n",
	"tls-wrong":             "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tls, address: ':1'}, {type: tcp, address: ':2', tls: {cert: " + fuzzCert + ", key: " + fuzzKey + "}}, {type: websocket, address: ':3', tls: {cert: " + fuzzKey + ", key: " + fuzzCert + ", min_version: '1.1', require_client_cert: true}}, {type: tls, address: ':4', tls: {cert: testdata/fuzz/tls, key: /nonexistent, client_ca: " + fuzzKey + "}}]}\n",
	"node-name":             "node: {name: \"" + strings.Repeat("n", 64) + "\", data_dir: \"\"}\nmqtt: {listeners: [{type: tcp, address: ':1883'}]}\n",
	"cluster-empty-section": "node: {name: n1, data_dir: /d}\nmqtt: {listeners: [{type: tcp, address: ':1883'}]}\ncluster: {}\n",
}

// parseCorpusDir is where go test finds FuzzParse's seed corpus.
var parseCorpusDir = filepath.Join("testdata", "fuzz", "FuzzParse")

// sourceSeeds are seeds taken from the files that show configurations,
// with their certificate paths pointed at the test files: the packaged
// triad.yaml (and lbagent.yaml, another program's file, which Parse must
// refuse), every yaml block of the docs, and the configurations of this
// package's tests. They are snapshots, written with the corpus but not
// checked against their sources, which may change freely.
func sourceSeeds(t *testing.T) map[string]string {
	seeds := map[string]string{
		"src-test-minimal":     minimalYAML,
		"src-test-cluster":     clusterYAML,
		"src-test-replication": replicationYAML,
	}
	for _, name := range []string{"triad.yaml", "lbagent.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "packaging", name))
		if err != nil {
			t.Fatal(err)
		}
		seeds["src-packaging-"+strings.TrimSuffix(name, ".yaml")] = string(withFuzzCerts(data))
	}
	docs, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	for _, doc := range append(docs, filepath.Join("..", "README.md")) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range block.FindAllSubmatch(data, -1) {
			name := fmt.Sprintf("src-docs-%s-%02d", strings.TrimSuffix(filepath.Base(doc), ".md"), i+1)
			seeds[name] = string(withFuzzCerts(b[1]))
		}
	}
	return seeds
}

// TestParseFuzzCorpus keeps the committed seed corpus in step with
// parseSeeds. PARSE_WRITE_CORPUS=1 rewrites the corpus, sourceSeeds
// included.
func TestParseFuzzCorpus(t *testing.T) {
	if os.Getenv("PARSE_WRITE_CORPUS") == "1" {
		if err := os.MkdirAll(parseCorpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		all := sourceSeeds(t)
		for name, data := range parseSeeds {
			all[name] = data
		}
		for name, data := range all {
			if err := os.WriteFile(filepath.Join(parseCorpusDir, name), fuzzCorpusFile(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range parseSeeds {
		got, err := os.ReadFile(filepath.Join(parseCorpusDir, name))
		if err != nil {
			t.Errorf("seed %s: %v (PARSE_WRITE_CORPUS=1 writes the corpus)", name, err)
			continue
		}
		if !bytes.Equal(got, fuzzCorpusFile(data)) {
			t.Errorf("seed %s is stale (PARSE_WRITE_CORPUS=1 rewrites the corpus)", name)
		}
	}
}

// fuzzCorpusFile is data in Go's fuzz corpus file format.
func fuzzCorpusFile(data string) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(data) + ")\n")
}
