//go:build chaos && linux

package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The binaries under test, built by TestMain with the race detector, and
// the etcd member (chaos/etcdmember).
var triadBin, triadctlBin, agentBin, etcdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "triad-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-race", "-o", dir+string(filepath.Separator),
		"github.com/triadmq/triad/cmd/triad", "github.com/triadmq/triad/cmd/triadctl", "github.com/triadmq/triad/cmd/triad-lbagent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: build:", err)
		os.Exit(1)
	}
	// The etcd members are built without the race detector: they are not
	// under test, and the detector's cost would slow etcd on two cores.
	member := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "github.com/triadmq/triad/chaos/etcdmember")
	member.Stdout, member.Stderr = os.Stderr, os.Stderr
	if err := member.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: build:", err)
		os.Exit(1)
	}
	triadBin, triadctlBin, agentBin = filepath.Join(dir, "triad"), filepath.Join(dir, "triadctl"), filepath.Join(dir, "triad-lbagent")
	etcdBin = filepath.Join(dir, "etcdmember")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
