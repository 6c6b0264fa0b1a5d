package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimalYAML = `node:
  name: n1
  data_dir: /var/lib/triad
mqtt:
  listeners:
    - type: tcp
      address: 127.0.0.1:1883
http:
  address: 127.0.0.1:8008
`

// minimalWant is minimalYAML with every default applied.
func minimalWant() *Config {
	return &Config{
		Node: Node{Name: "n1", DataDir: "/var/lib/triad"},
		MQTT: MQTT{
			Listeners: []Listener{{ID: "tcp0", Type: "tcp", Address: "127.0.0.1:1883"}},
			Limits: Limits{
				MaxPacketSize:     1048576,
				MaxInflight:       1024,
				ReceiveMaximum:    1024,
				MaxQueuedMessages: 10000,

				MaxClientWritesPending: 1024,
			},
			AuthRateLimit: AuthRateLimit{Failures: 10, Window: Duration(time.Minute), Block: Duration(time.Minute)},
			Admission:     Admission{MaxConcurrentConnects: 64},
		},
		HTTP:   HTTP{Address: "127.0.0.1:8008"},
		Store:  Store{MaxBatch: 4096},
		Dynsec: Dynsec{File: "/var/lib/triad/dynamic-security.json"},
		Log:    Log{Level: "info", Format: "text"},
	}
}

func TestParseMinimalGetsDefaults(t *testing.T) {
	got, err := Parse([]byte(minimalYAML), "triad.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if want := minimalWant(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "triad.yaml")
	if err := os.WriteFile(path, []byte(minimalYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("ok", func(t *testing.T) {
		got, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if want := minimalWant(); !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(path + ".nope")
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want os.ErrNotExist", err)
		}
	})
	t.Run("errors name the path", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(bad, []byte("node:\n  nme: x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(bad)
		if err == nil || !strings.HasPrefix(err.Error(), bad+":2: node.nme: unknown key") {
			t.Fatalf("err = %v", err)
		}
	})
}

// withMinimal returns minimalYAML with extra appended (from line 10 on).
func withMinimal(extra string) string { return minimalYAML + extra }

// withLimits returns minimalYAML with an mqtt.limits section holding body
// (indented by four spaces, from line 9 on) before the http section.
func withLimits(body string) string {
	return strings.Replace(minimalYAML, "http:", "  limits:\n    "+body+"\nhttp:", 1)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		line  int
		path  string // "" for whole-file problems
		value string // must appear after the path, on the same error line
	}{
		{name: "unknown top-level key", yaml: withMinimal("stor:\n  max_batch: 1\n"), line: 10, path: "stor", value: `did you mean "store"`},
		{name: "unknown key depth 2", yaml: "node:\n  nme: n1\n  data_dir: /d\n", line: 2, path: "node.nme", value: `unknown key (did you mean "name"?)`},
		{name: "unknown key in listener", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tcp\n      adress: :1883\n", line: 5, path: "mqtt.listeners[0].adress", value: `unknown key (did you mean "address"?)`},
		{name: "unknown key in limits", yaml: withLimits("max_client: 5"), line: 9, path: "mqtt.limits.max_client", value: `did you mean "max_clients"`},
		{name: "unknown key in tls", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tls\n      address: :8883\n      tls:\n        cert: c.pem\n        certificate: c.pem\n", line: 8, path: "mqtt.listeners[0].tls.certificate", value: "unknown key"},
		{name: "unknown key without close match", yaml: "node:\n  zzzzzzzz: 1\n", line: 2, path: "node.zzzzzzzz", value: "known keys: name, data_dir"},
		{name: "duplicate key", yaml: "node:\n  name: a\n  name: b\n", line: 3, path: "node.name", value: "duplicate key (first given on line 2)"},
		{name: "wrong type string for int", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  limits:\n    max_clients: lots\n", line: 4, path: "mqtt.limits.max_clients", value: `"lots" is not an integer`},
		{name: "int out of range", yaml: "mqtt:\n  limits:\n    max_inflight: 70000\n", line: 3, path: "mqtt.limits.max_inflight", value: "70000 is out of range 0..65535"},
		{name: "negative into unsigned", yaml: "mqtt:\n  limits:\n    max_packet_size: -1\n", line: 3, path: "mqtt.limits.max_packet_size", value: "-1 is out of range 0..4294967295"},
		{name: "float for int", yaml: "store:\n  max_batch: 1.5\n", line: 2, path: "store.max_batch", value: "1.5 is not an integer"},
		{name: "wrong type bool", yaml: "store:\n  no_sync: yes\n", line: 2, path: "store.no_sync", value: `"yes" is not a boolean`},
		{name: "mapping for string", yaml: "node:\n  name: {first: n}\n", line: 2, path: "node.name", value: "expected a string, got a mapping"},
		{name: "scalar for section", yaml: "node: n1\n", line: 1, path: "node", value: `expected a mapping of keys, got "n1"`},
		{name: "scalar for list", yaml: "mqtt:\n  listeners: tcp\n", line: 2, path: "mqtt.listeners", value: `expected a list, got "tcp"`},
		{name: "negative duration", yaml: withMinimal("store:\n  max_batch_age: -5s\n"), line: 11, path: "store.max_batch_age", value: `"-5s" is negative`},
		{name: "bad duration", yaml: "mqtt:\n  limits:\n    message_expiry: 1 day\n", line: 3, path: "mqtt.limits.message_expiry", value: `"1 day" is not a duration`},
		{name: "bad enum", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tcp\n      address: :1883\n    - type: udp\n      address: :1884\n", line: 6, path: "mqtt.listeners[1].type", value: `"udp" is not one of tcp, tls, websocket`},
		{name: "bad log level", yaml: withMinimal("log:\n  level: verbose\n"), line: 11, path: "log.level", value: `"verbose" is not one of debug, info, warn, error`},
		{name: "address without port", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tcp\n      address: localhost\n", line: 5, path: "mqtt.listeners[0].address", value: `"localhost" is not a host:port address`},
		{name: "address with bad port", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tcp\n      address: :65536\n", line: 5, path: "mqtt.listeners[0].address", value: `":65536" has port "65536"`},
		{name: "bad http address", yaml: strings.Replace(minimalYAML, "127.0.0.1:8008", "127.0.0.1:http", 1), line: 9, path: "http.address", value: `"127.0.0.1:http" has port "http"`},
		{name: "missing name", yaml: "node:\n  data_dir: /d\nmqtt:\n  listeners:\n    - {type: tcp, address: \":1883\"}\n", line: 1, path: "node.name", value: "missing"},
		{name: "bad name", yaml: strings.Replace(minimalYAML, "n1", "n/1", 1), line: 2, path: "node.name", value: `"n/1" must be 1 to 63 characters`},
		{name: "missing data dir", yaml: "node:\n  name: n1\nmqtt:\n  listeners:\n    - {type: tcp, address: \":1883\"}\n", line: 1, path: "node.data_dir", value: "missing"},
		{name: "no listeners", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners: []\n", line: 3, path: "mqtt.listeners", value: "at least one listener"},
		{name: "no mqtt section", yaml: "\n# comment\nnode: {name: n1, data_dir: /d}\n", line: 3, path: "mqtt.listeners", value: "at least one listener"},
		{name: "duplicate listener id", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - {id: main, type: tcp, address: \":1883\"}\n    - {id: main, type: websocket, address: \":8083\"}\n", line: 5, path: "mqtt.listeners[1].id", value: `"main" is already the id of mqtt.listeners[0]`},
		{name: "explicit id clashes with default", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - {type: tcp, address: \":1883\"}\n    - id: tcp0\n      type: websocket\n      address: :8083\n", line: 5, path: "mqtt.listeners[1].id", value: `"tcp0" is already the id of mqtt.listeners[0]`},
		{name: "duplicate listener address", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tcp\n      address: 0.0.0.0:1883\n    - type: websocket\n      address: 0.0.0.0:1883\n", line: 7, path: "mqtt.listeners[1].address", value: `"0.0.0.0:1883" is already used by mqtt.listeners[0].address`},
		{name: "http clashes with listener", yaml: strings.Replace(minimalYAML, "127.0.0.1:8008", "127.0.0.1:1883", 1), line: 9, path: "http.address", value: `"127.0.0.1:1883" is already used by mqtt.listeners[0].address`},
		{name: "tls listener without tls", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tls\n      address: :8883\n", line: 4, path: "mqtt.listeners[0].tls", value: "missing: a tls listener needs tls.cert and tls.key"},
		{name: "tls without cert", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tls\n      address: :8883\n      tls:\n        key: /k.pem\n", line: 6, path: "mqtt.listeners[0].tls.cert", value: "missing"},
		{name: "missing cert file", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tls\n      address: :8883\n      tls:\n        cert: /nonexistent/cert.pem\n        key: /nonexistent/key.pem\n", line: 7, path: "mqtt.listeners[0].tls.cert", value: `"/nonexistent/cert.pem" cannot be read: no such file or directory`},
		{name: "tls on tcp", yaml: "node: {name: n1, data_dir: /d}\nmqtt:\n  listeners:\n    - type: tcp\n      address: :1883\n      tls: {cert: a, key: b}\n", line: 6, path: "mqtt.listeners[0].tls", value: "not allowed on a tcp listener"},
		{name: "max_inflight zero", yaml: withLimits("max_inflight: 0"), line: 9, path: "mqtt.limits.max_inflight", value: "0 is too small"},
		{name: "max_queued_messages zero", yaml: withLimits("max_queued_messages: 0"), line: 9, path: "mqtt.limits.max_queued_messages", value: "0 is too small"},
		{name: "max_batch zero", yaml: withMinimal("store:\n  max_batch: 0\n"), line: 11, path: "store.max_batch", value: "0 is too small"},
		{name: "empty file", yaml: "", line: 1, value: "empty configuration"},
		{name: "only comments", yaml: "# nothing here\n", line: 1, value: "empty configuration"},
		{name: "explicit null document", yaml: "---\n~\n", line: 2, value: "empty configuration"},
		{name: "two documents", yaml: minimalYAML + "---\nnode:\n  name: n2\n", line: 11, value: "a second YAML document"},
		{name: "top level list", yaml: "- node\n", line: 1, value: "the top level must be a mapping of sections (node, mqtt, ...), got a list"},
		{name: "top level scalar", yaml: "\n\nhello\n", line: 3, value: `got "hello"`},
		{name: "syntax error", yaml: "node:\n\tname: n1\n", line: 2, value: "invalid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "triad.yaml")
			assertErrLine(t, err, tc.line, tc.path, tc.value)
		})
	}
}

// assertErrLine fails unless one line of err reads
// "triad.yaml:<line>: <path>: ..." and contains value.
func assertErrLine(t *testing.T, err error, line int, path, value string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want line %d %s: %s", line, path, value)
	}
	prefix := fmt.Sprintf("triad.yaml:%d: ", line)
	if path != "" {
		prefix += path + ": "
	}
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l[len(prefix):], value) {
			return
		}
	}
	t.Fatalf("error:\n%v\nwant a line starting %q containing %q", err, prefix, value)
}
