package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// triadCmd runs the triad binary with stdin and returns its exit code and
// output.
func triadCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(triadBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("triad %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// TestDynsecInitImportExport follows an operator: `triad dynsec init`
// makes the first admin before the first start, `triad dynsec import`
// replaces the running configuration with a file Mosquitto wrote (the
// importing admin gets the answer although the file does not know it,
// everyone else is disconnected), and `triad dynsec export` gives
// Mosquitto's file back byte for byte.
func TestDynsecInitImportExport(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "dynamic-security.json")
	if code, out, errOut := triadCmd(t, "rootpw\n", "dynsec", "init", "--admin", "root", "--file", seed); code != 0 {
		t.Fatalf("triad dynsec init: exit %d\n%s%s", code, out, errOut)
	}
	n := newNode(t, "dynsec:\n  enabled: true\n  file: "+seed+"\n")
	n.start()
	if out, errOut := ctrl(t, n, "root", "rootpw", "listClients"); out != "root\n" || errOut != "" {
		t.Fatalf("listClients as the admin triad dynsec init made: %q %q", out, errOut)
	}
	bystander := dialKickWatch(t, n.mqttAddr, "root-2", "root", "rootpw")

	code, out, errOut := triadCmd(t, "rootpw\n", "dynsec", "import", "--mqtt", n.mqttAddr, "--username", "root", mosquittoFixture)
	if code != 0 || !strings.Contains(out, "4 clients, 2 groups, 4 roles") {
		t.Fatalf("triad dynsec import: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	bystander.kicked(t, "import (every other connection)")
	if _, errOut := ctrl(t, n, "root", "rootpw", "listClients"); !strings.Contains(errOut, "Not authorized") {
		t.Fatalf("root, absent from the imported file, still logs in: %q", errOut)
	}
	adminCtrl(t, n, "admin\nalice\nbob\nmallory\n", "listClients")

	want, err := os.ReadFile(mosquittoFixture)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the node's dynsec.file", func() bool {
		code, out, _ := triadCmd(t, "", "dynsec", "export", "--config", n.cfgPath)
		return code == 0 && out == string(want)
	})

	// A refused import changes nothing and says why.
	if code, _, errOut := triadCmd(t, "wrong\n", "dynsec", "import", "--mqtt", n.mqttAddr, "--username", "admin", mosquittoFixture); code != 1 || !strings.Contains(errOut, "connect to") {
		t.Fatalf("import with a wrong password: exit %d, %q", code, errOut)
	}
	if code, _, errOut := triadCmd(t, "bobpass\n", "dynsec", "import", "--mqtt", n.mqttAddr, "--username", "bob", mosquittoFixture); code != 1 || !strings.Contains(errOut, "not an admin") {
		t.Fatalf("import as bob: exit %d, %q", code, errOut)
	}
}
