package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// withProxyProtocol returns minimalYAML with the tcp listener's type
// replaced by typ and proxy_protocol set to body (the lines under it,
// indented by eight spaces, from line 9 on).
func withProxyProtocol(typ, body string) string {
	y := strings.Replace(minimalYAML, "type: tcp", "type: "+typ, 1)
	return strings.Replace(y, "      address: 127.0.0.1:1883\n",
		"      address: 127.0.0.1:1883\n      proxy_protocol:\n        "+strings.ReplaceAll(body, "\n", "\n        ")+"\n", 1)
}

func TestProxyProtocolParse(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		name string
		yaml string
		want []netip.Prefix // nil: no proxy_protocol
	}{
		{name: "absent", yaml: minimalYAML},
		{name: "null", yaml: strings.Replace(minimalYAML, "address: 127.0.0.1:1883\n", "address: 127.0.0.1:1883\n      proxy_protocol: ~\n", 1)},
		{name: "addresses and prefixes", yaml: withProxyProtocol("tcp", "trusted: [127.0.0.1/32, 10.0.0.10, 10.1.0.0/16, \"::1\", 2001:db8::/64, \"::ffff:192.0.2.1\"]"),
			want: []netip.Prefix{pfx("127.0.0.1/32"), pfx("10.0.0.10/32"), pfx("10.1.0.0/16"), pfx("::1/128"), pfx("2001:db8::/64"), pfx("192.0.2.1/32")}},
		{name: "block list", yaml: withProxyProtocol("tcp", "trusted:\n  - 10.0.0.10\n  - 10.0.0.11"),
			want: []netip.Prefix{pfx("10.0.0.10/32"), pfx("10.0.0.11/32")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			pp := c.MQTT.Listeners[0].ProxyProtocol
			if tc.want == nil {
				if pp != nil {
					t.Fatalf("proxy_protocol %+v, want none", pp)
				}
				return
			}
			got, err := pp.TrustedPrefixes()
			if err != nil {
				t.Fatalf("TrustedPrefixes: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("trusted %v, want %v", got, tc.want)
			}
			// The effective configuration gives it back.
			out, err := c.Effective()
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(out, "effective.yaml")
			if err != nil {
				t.Fatalf("Parse of the effective configuration: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again, c) {
				t.Fatalf("effective configuration parses to\n%+v\nwant\n%+v", again, c)
			}
		})
	}
}

func TestProxyProtocolErrors(t *testing.T) {
	tests := []struct {
		name, typ, body string
		line            int
		path, value     string
	}{
		{name: "no trusted", typ: "tcp", body: "{}", line: 8, path: "mqtt.listeners[0].proxy_protocol.trusted", value: "missing: list the addresses"},
		{name: "empty trusted", typ: "tcp", body: "trusted: []", line: 9, path: "mqtt.listeners[0].proxy_protocol.trusted", value: "missing"},
		{name: "not an address", typ: "tcp", body: "trusted:\n  - 127.0.0.1\n  - haproxy.local", line: 11,
			path: "mqtt.listeners[0].proxy_protocol.trusted[1]", value: `"haproxy.local" is not an IP address or CIDR prefix`},
		{name: "bad prefix length", typ: "tcp", body: "trusted: [10.0.0.0/33]", line: 9,
			path: "mqtt.listeners[0].proxy_protocol.trusted[0]", value: `"10.0.0.0/33" is not an IP address or CIDR prefix`},
		{name: "host bits", typ: "tcp", body: "trusted: [10.0.0.1/24]", line: 9,
			path: "mqtt.listeners[0].proxy_protocol.trusted[0]", value: `"10.0.0.1/24" has bits set after the /24 prefix: write 10.0.0.0/24 for the network, or 10.0.0.1/32 for the one address`},
		{name: "zone", typ: "tcp", body: "trusted: [\"fe80::1%eth0\"]", line: 9,
			path: "mqtt.listeners[0].proxy_protocol.trusted[0]", value: `"fe80::1%eth0" has a zone`},
		{name: "empty entry", typ: "tcp", body: "trusted: [\"\"]", line: 9, path: "mqtt.listeners[0].proxy_protocol.trusted[0]", value: "missing"},
		{name: "not a list", typ: "tcp", body: "trusted: 127.0.0.1", line: 9, path: "mqtt.listeners[0].proxy_protocol.trusted", value: "expected a list"},
		{name: "unknown key", typ: "tcp", body: "trust: [127.0.0.1]", line: 9, path: "mqtt.listeners[0].proxy_protocol.trust", value: `did you mean "trusted"`},
		{name: "websocket", typ: "websocket", body: "trusted: [127.0.0.1]", line: 8, path: "mqtt.listeners[0].proxy_protocol", value: "not supported on a websocket listener"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(withProxyProtocol(tc.typ, tc.body)), "triad.yaml")
			assertErrLine(t, err, tc.line, tc.path, tc.value)
		})
	}
}
