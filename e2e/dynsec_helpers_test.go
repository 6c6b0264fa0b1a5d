package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mosquittoFixture is the dynamic-security.json real Mosquitto 2.0.11
// wrote (dynsec/testdata/mosquitto/README.md): admin/adminpass,
// alice/alicepass (client id alice-device, group devices: role sensor),
// bob/bobpass (role operator), mallory (disabled), anonymous group guests.
const mosquittoFixture = "../dynsec/testdata/mosquitto/dynamic-security.json"

// newDynsecNode is a standalone node with dynsec enabled, seeded with
// Mosquitto's fixture file (copied: the node rewrites it after changes).
func newDynsecNode(t *testing.T, extra string) *node {
	t.Helper()
	data, err := os.ReadFile(mosquittoFixture)
	if err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(t.TempDir(), "dynamic-security.json")
	if err := os.WriteFile(seed, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return newNode(t, "dynsec:\n  enabled: true\n  file: "+seed+"\n"+extra)
}

// ctrlBanner is what mosquitto_ctrl prints on stderr before every command
// sent without TLS.
const ctrlBanner = "Warning: You are running mosquitto_ctrl without encryption.\n" +
	"This means all of the configuration changes you are making are visible on the network, including passwords.\n\n"

// ctrl runs `mosquitto_ctrl -u USER -P PASS dynsec ARGS...` against n and
// returns its stdout and its stderr without the warning banner. It exits
// 0 even when the broker answers with an error: callers assert on output.
func ctrl(t *testing.T, n *node, user, pass string, args ...string) (stdout, stderr string) {
	t.Helper()
	return ctrlAt(t, n.mqttAddr, user, pass, args...)
}

// ctrlAt is ctrl against the MQTT address addr.
func ctrlAt(t *testing.T, addr, user, pass string, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errOut, code := mosq(t, &node{mqttAddr: addr}, "mosquitto_ctrl", append([]string{"-u", user, "-P", pass, "dynsec"}, args...)...)
	if code != 0 {
		t.Fatalf("mosquitto_ctrl dynsec %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out, strings.ReplaceAll(errOut, ctrlBanner, "")
}

// adminCtrl runs a command as the fixture's admin and requires the given
// stdout and no error.
func adminCtrl(t *testing.T, n *node, wantOut string, args ...string) {
	t.Helper()
	out, errOut := ctrl(t, n, "admin", "adminpass", args...)
	if out != wantOut || errOut != "" {
		t.Fatalf("mosquitto_ctrl dynsec %s:\nstdout %q\nwant   %q\nstderr %q", strings.Join(args, " "), out, wantOut, errOut)
	}
}

// adminCtrlErr runs a command as admin and requires Mosquitto's error
// line for it on stderr.
func adminCtrlErr(t *testing.T, n *node, wantErr string, args ...string) {
	t.Helper()
	out, errOut := ctrl(t, n, "admin", "adminpass", args...)
	if out != "" || errOut != wantErr+"\n" {
		t.Fatalf("mosquitto_ctrl dynsec %s:\nstdout %q\nstderr %q\nwant stderr %q", strings.Join(args, " "), out, errOut, wantErr+"\n")
	}
}
