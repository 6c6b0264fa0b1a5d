package config

import (
	"strings"
	"testing"
)

// withMQTT returns minimalYAML with section (a key of mqtt, its body
// indented by four spaces) added from line 9 on.
func withMQTT(section, body string) string {
	return strings.Replace(minimalYAML, "http:", "  "+section+":\n    "+strings.ReplaceAll(body, "\n", "\n    ")+"\nhttp:", 1)
}

func TestAdmissionParse(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want Admission
	}{
		{name: "absent: the defaults", yaml: minimalYAML, want: Admission{MaxConcurrentConnects: 64}},
		{name: "null: the defaults", yaml: withMQTT("admission", "max_concurrent_connects: ~"), want: Admission{MaxConcurrentConnects: 64}},
		{name: "explicit values", yaml: withMQTT("admission", "max_concurrent_connects: 16\nmax_connect_rate: 500"),
			want: Admission{MaxConcurrentConnects: 16, MaxConnectRate: 500}},
		{name: "0 turns the bound off and stays 0", yaml: withMQTT("admission", "max_concurrent_connects: 0"), want: Admission{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "triad.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.MQTT.Admission; got != tc.want {
				t.Fatalf("admission %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAdmissionErrors(t *testing.T) {
	tests := []struct {
		name          string
		section, body string
		line          int
		path, value   string
	}{
		{name: "negative bound", section: "admission", body: "max_concurrent_connects: -1", line: 9,
			path: "mqtt.admission.max_concurrent_connects", value: "-1 is negative; use 0 for no limit"},
		{name: "negative rate", section: "admission", body: "max_connect_rate: -5", line: 9,
			path: "mqtt.admission.max_connect_rate", value: "-5 is negative; use 0 for no limit"},
		{name: "unknown key", section: "admission", body: "max_connects: 3", line: 9,
			path: "mqtt.admission.max_connects", value: `did you mean`},
		{name: "no client write queue", section: "limits", body: "max_client_writes_pending: 0", line: 9,
			path: "mqtt.limits.max_client_writes_pending", value: "0 is out of range; must be 1..2147483647"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(withMQTT(tc.section, tc.body)), "triad.yaml")
			assertErrLine(t, err, tc.line, tc.path, tc.value)
		})
	}
}

func TestMaxClientWritesPendingParse(t *testing.T) {
	c, err := Parse([]byte(withMQTT("limits", "max_client_writes_pending: 8192")), "triad.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := c.MQTT.Limits.MaxClientWritesPending; got != 8192 {
		t.Fatalf("max_client_writes_pending %d, want 8192", got)
	}
}
