package config

import (
	"strings"
	"testing"
	"time"
)

// withAuthLimit returns minimalYAML with an mqtt.auth_rate_limit section
// holding body (keys indented by four spaces, from line 9 on).
func withAuthLimit(body string) string {
	return strings.Replace(minimalYAML, "http:", "  auth_rate_limit:\n    "+strings.ReplaceAll(body, "\n", "\n    ")+"\nhttp:", 1)
}

func TestAuthRateLimitParse(t *testing.T) {
	minute := Duration(time.Minute)
	tests := []struct {
		name string
		yaml string
		want AuthRateLimit
	}{
		{name: "absent: the defaults", yaml: minimalYAML, want: AuthRateLimit{Failures: 10, Window: minute, Block: minute}},
		{name: "null: the defaults", yaml: withAuthLimit("failures: ~"), want: AuthRateLimit{Failures: 10, Window: minute, Block: minute}},
		{name: "explicit values", yaml: withAuthLimit("failures: 3\nwindow: 10s\nblock: 5m"),
			want: AuthRateLimit{Failures: 3, Window: Duration(10 * time.Second), Block: Duration(5 * time.Minute)}},
		{name: "failures 0 turns it off and stays 0", yaml: withAuthLimit("failures: 0"), want: AuthRateLimit{Window: minute, Block: minute}},
		{name: "off: window and block are not checked", yaml: withAuthLimit("failures: 0\nwindow: 0\nblock: 0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.MQTT.AuthRateLimit; got != tc.want {
				t.Fatalf("auth_rate_limit %+v, want %+v", got, tc.want)
			}
			if got, want := c.MQTT.AuthRateLimit.Enabled(), tc.want.Failures > 0; got != want {
				t.Fatalf("Enabled() = %v, want %v", got, want)
			}
		})
	}
}

func TestAuthRateLimitErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		line  int
		path  string
		value string
	}{
		{name: "negative failures", body: "failures: -1", line: 9, path: "mqtt.auth_rate_limit.failures", value: "-1 is negative; use 0 to turn the limit off"},
		{name: "zero window", body: "failures: 5\nwindow: 0", line: 10, path: "mqtt.auth_rate_limit.window", value: "0s must be above 0"},
		{name: "zero block", body: "block: 0s", line: 9, path: "mqtt.auth_rate_limit.block", value: "0s must be above 0"},
		{name: "negative block", body: "block: -1m", line: 9, path: "mqtt.auth_rate_limit.block", value: `"-1m" is negative`},
		{name: "not a number", body: "failures: ten", line: 9, path: "mqtt.auth_rate_limit.failures", value: `"ten" is not an integer`},
		{name: "unknown key", body: "failure: 3", line: 9, path: "mqtt.auth_rate_limit.failure", value: `did you mean "failures"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(withAuthLimit(tc.body)), "triad.yaml")
			assertErrLine(t, err, tc.line, tc.path, tc.value)
		})
	}
}
