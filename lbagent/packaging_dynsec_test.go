package lbagent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triadmq/triad/lbagent/haproxytest"
)

// packagedDynsecHAProxy is the example for cluster.mode dynsec, installed
// beside packagedHAProxy.
const packagedDynsecHAProxy = "../packaging/haproxy/haproxy-dynsec.cfg"

// TestPackagedDynsecHAProxyConfigIsValid: `haproxy -c` accepts the shipped
// dynsec-mode config as it is, but for the files it must find (the TLS
// certificate, the state file), which are made in a temporary directory.
func TestPackagedDynsecHAProxyConfigIsValid(t *testing.T) {
	bin := haproxytest.Binary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "server-state")
	if err := os.WriteFile(state, []byte(emptyStateFile), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(packagedDynsecHAProxy)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(data)
	for _, r := range [][2]string{
		{"/etc/haproxy/certs/mqtt.pem", selfSignedPEM(t, dir)},
		{"/var/lib/haproxy/server-state", state},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("%s no longer contains %q", packagedDynsecHAProxy, r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c -f %s: %v\n%s", path, err, out)
	}
	if strings.Contains(string(out), "WARNING") || strings.Contains(string(out), "ALERT") {
		t.Errorf("haproxy -c warns:\n%s", out)
	}
	// What this mode depends on; the agent's leader check must not be here.
	for _, want := range []string{
		"\n    option httpchk GET /ready\n    http-check expect status 200\n",
		"\n    stick on req.payload(0,0),mqtt_field_value(connect,client_identifier)\n",
		" check port 8008 ",
		" on-marked-down shutdown-sessions ",
		" send-proxy-v2\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("%s lacks %q", packagedDynsecHAProxy, want)
		}
	}
	if strings.Contains(cfg, "/leader") {
		t.Errorf("%s checks /leader: in dynsec mode every node serves", packagedDynsecHAProxy)
	}
}
