package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesReadBounded: a certificate path naming a device, or a file
// larger than a PEM file can be, is refused at once naming the key and
// the file, where reading it used to hang (/dev/zero) or exhaust memory;
// the same for the configuration file itself.
func TestFilesReadBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(big, make([]byte, maxPEMFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{
		{"/dev/zero", "not a regular file"},
		{big, "larger than 1048576 bytes"},
	} {
		doc := strings.Replace(minimalYAML, "      address: 127.0.0.1:1883\n",
			"      address: 127.0.0.1:1883\n    - type: tls\n      address: 127.0.0.1:8883\n      tls:\n        cert: "+c.file+"\n        key: "+c.file+"\n", 1)
		_, err := Parse([]byte(doc), "triad.yaml")
		if err == nil || !strings.Contains(err.Error(), "mqtt.listeners[1].tls.cert") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cert %s: %v, want an error on mqtt.listeners[1].tls.cert saying %q", c.file, err, c.want)
		}
	}
	if _, err := Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load(/dev/zero): %v, want not a regular file", err)
	}
}

// TestAllowedOrigins: origins are checked where given; only websocket
// listeners take them.
func TestAllowedOrigins(t *testing.T) {
	ws := func(origins string) string {
		return strings.Replace(minimalYAML, "      address: 127.0.0.1:1883\n",
			"      address: 127.0.0.1:1883\n    - type: websocket\n      address: 127.0.0.1:8080\n      allowed_origins: "+origins+"\n", 1)
	}
	if _, err := Parse([]byte(ws(`["https://dash.example.com", "http://localhost:3000/", "*"]`)), "triad.yaml"); err != nil {
		t.Fatalf("valid origins refused: %v", err)
	}
	for _, c := range []struct{ origins, want string }{
		{`["dash.example.com"]`, `mqtt.listeners[1].allowed_origins[0]: "dash.example.com" is not a web origin`},
		{`["https://dash.example.com/app"]`, `allowed_origins[0]: "https://dash.example.com/app" is not a web origin`},
		{`["ftp://x.example"]`, `"ftp://x.example" is not a web origin`},
	} {
		if _, err := Parse([]byte(ws(c.origins)), "triad.yaml"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("allowed_origins %s: %v, want %q", c.origins, err, c.want)
		}
	}
	tcp := strings.Replace(minimalYAML, "      address: 127.0.0.1:1883\n", "      address: 127.0.0.1:1883\n      allowed_origins: [\"*\"]\n", 1)
	if _, err := Parse([]byte(tcp), "triad.yaml"); err == nil || !strings.Contains(err.Error(), "only for a websocket listener") {
		t.Errorf("allowed_origins on tcp: %v", err)
	}
}
