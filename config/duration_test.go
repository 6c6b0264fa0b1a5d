package config

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    time.Duration
		wantErr string // substring; empty means success
	}{
		{name: "seconds unit", yaml: "10s", want: 10 * time.Second},
		{name: "compound", yaml: "1h30m", want: 90 * time.Minute},
		{name: "bare zero", yaml: "0", want: 0},
		{name: "quoted zero", yaml: `"0"`, want: 0},
		{name: "integer seconds", yaml: "30", want: 30 * time.Second},
		{name: "quoted integer seconds", yaml: `"45"`, want: 45 * time.Second},
		{name: "milliseconds", yaml: "250ms", want: 250 * time.Millisecond},
		{name: "negative string", yaml: "-5s", wantErr: `"-5s" is negative`},
		{name: "negative integer", yaml: "-3", wantErr: `"-3" is negative`},
		{name: "no unit on fraction", yaml: "1.5", wantErr: `"1.5" is not a duration`},
		{name: "garbage", yaml: "soon", wantErr: `"soon" is not a duration`},
		{name: "too large", yaml: "99999999999999", wantErr: "too large"},
		{name: "list", yaml: "[1s]", wantErr: "got a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				D Duration `yaml:"d"`
			}
			err := yaml.Unmarshal([]byte("d: "+tc.yaml), &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.D.D() != tc.want {
				t.Fatalf("got %v, want %v", got.D.D(), tc.want)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		text string
	}{
		{name: "zero", d: 0, text: "0s"},
		{name: "a day", d: 24 * time.Hour, text: "24h0m0s"},
		{name: "mixed", d: 90*time.Minute + 500*time.Millisecond, text: "1h30m0.5s"},
		{name: "nanoseconds", d: 7, text: "7ns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := struct {
				D Duration `yaml:"d"`
			}{D: Duration(tc.d)}
			out, err := yaml.Marshal(in)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if got, want := strings.TrimSpace(string(out)), "d: "+tc.text; got != want {
				t.Fatalf("marshal = %q, want %q", got, want)
			}
			var back struct {
				D Duration `yaml:"d"`
			}
			if err := yaml.Unmarshal(out, &back); err != nil {
				t.Fatalf("unmarshal %q: %v", out, err)
			}
			if back.D != in.D {
				t.Fatalf("round trip = %v, want %v", back.D, in.D)
			}
		})
	}
}
