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
