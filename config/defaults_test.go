package config

import (
	"errors"
	"reflect"
	"testing"
)

func TestApplyDefaultsInCode(t *testing.T) {
	c := &Config{
		Node: Node{Name: "n1", DataDir: "/var/lib/triad"},
		MQTT: MQTT{Listeners: []Listener{
			{Type: "tcp", Address: "127.0.0.1:1883"},
			{ID: "ws", Type: "websocket", Address: "127.0.0.1:8083"},
			{Type: "tcp", Address: "127.0.0.1:1884"},
		}},
		HTTP: HTTP{Address: "127.0.0.1:8008"},
	}
	c.ApplyDefaults()
	want := minimalWant()
	want.MQTT.Listeners = []Listener{
		{ID: "tcp0", Type: "tcp", Address: "127.0.0.1:1883"},
		{ID: "ws", Type: "websocket", Address: "127.0.0.1:8083"},
		{ID: "tcp2", Type: "tcp", Address: "127.0.0.1:1884"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	again := *c
	again.ApplyDefaults()
	if !reflect.DeepEqual(&again, c) {
		t.Fatalf("ApplyDefaults is not idempotent: %+v", again)
	}
}

func TestParseKeepsExplicitZeros(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(*Config) bool
	}{
		{name: "max_packet_size 0 means protocol maximum", body: "max_packet_size: 0", check: func(c *Config) bool { return c.MQTT.Limits.MaxPacketSize == 0 }},
		{name: "null takes the default", body: "max_packet_size: ~", check: func(c *Config) bool { return c.MQTT.Limits.MaxPacketSize == DefaultMaxPacketSize }},
		{name: "explicit values kept", body: "max_inflight: 7", check: func(c *Config) bool {
			return c.MQTT.Limits.MaxInflight == 7 && c.MQTT.Limits.ReceiveMaximum == DefaultReceiveMaximum
		}},
		{name: "durations", body: "message_expiry: 24h", check: func(c *Config) bool { return c.MQTT.Limits.MessageExpiry.String() == "24h0m0s" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(withLimits(tc.body)), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected limits %+v", c.MQTT.Limits)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	c := &Config{MQTT: MQTT{Listeners: []Listener{{ID: "x", Type: "udp", Address: "nope"}}}}
	c.ApplyDefaults()
	c.Log.Level = "loud"
	err := c.Validate()
	wantPaths := []string{"node.name", "node.data_dir", "mqtt.listeners[0].type", "mqtt.listeners[0].address", "log.level"}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("%T is not an *Error: %v", e, e)
		}
		if ce.File != "" || ce.Line != 0 {
			t.Errorf("Validate should not set file or line: %+v", ce)
		}
		got = append(got, ce.Path)
	}
	if !reflect.DeepEqual(got, wantPaths) {
		t.Fatalf("paths = %q, want %q\n%v", got, wantPaths, err)
	}
}

func TestValidateAddresses(t *testing.T) {
	tests := []struct {
		name    string
		addrs   []string
		http    string
		wantErr string
	}{
		{name: "port zero may repeat", addrs: []string{":0", ":0"}, http: "127.0.0.1:0"},
		{name: "ipv6", addrs: []string{"[::1]:1883"}},
		{name: "hostname", addrs: []string{"localhost:1883"}, http: "localhost:8008"},
		{name: "all interfaces", addrs: []string{":1883", "0.0.0.0:1884"}},
		{name: "same host different case", addrs: []string{"LocalHost:1883", "localhost:1883"}, wantErr: "mqtt.listeners[1].address: \"localhost:1883\" is already used by mqtt.listeners[0].address"},
		{name: "empty", addrs: []string{""}, wantErr: "mqtt.listeners[0].address: missing"},
		{name: "negative port", addrs: []string{":-1"}, wantErr: `":-1" has port "-1"`},
		{name: "too many colons", addrs: []string{"::1:1883"}, wantErr: `"::1:1883" is not a host:port address (too many colons in address)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{Node: Node{Name: "n1", DataDir: "d"}, HTTP: HTTP{Address: tc.http}}
			for _, a := range tc.addrs {
				c.MQTT.Listeners = append(c.MQTT.Listeners, Listener{Type: "tcp", Address: a})
			}
			c.ApplyDefaults()
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !containsLine(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
