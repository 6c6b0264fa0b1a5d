package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ctlCase is one bad triadctl command line and what it must answer.
type ctlCase struct {
	name string
	args []string // after the global flags naming the cluster, unless bare
	bare bool     // run args alone: no --etcd or --cluster added
	code int      // 2: usage error, 1: failure
	// stderr must contain every one of these (the offending value named).
	stderr []string
}

// TestTriadctlBadInput: each bad command line gets exit status 2 (a
// mistake in the command line) or 1 (the command failed), a message on
// stderr naming what is wrong, nothing on stdout, and changes nothing in
// the running cluster.
func TestTriadctlBadInput(t *testing.T) {
	c := newCluster(t)
	leader := c.leader()
	before := c.status()
	deadEtcd := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))

	cases := []ctlCase{
		{name: "unknown command", args: []string{"frobnicate"}, code: 2,
			stderr: []string{`unknown command "frobnicate"`, "triadctl help"}},
		{name: "no command", args: nil, code: 2, stderr: []string{"no command"}},
		{name: "unknown flag", args: []string{"status", "--frobnicate"}, code: 2,
			stderr: []string{`unknown flag "--frobnicate"`}},
		{name: "flag of another command", args: []string{"status", "--force"}, code: 2,
			stderr: []string{"status does not take --force"}},
		{name: "pin without NODE", args: []string{"pin"}, code: 2,
			stderr: []string{"pin: missing NODE"}},
		{name: "pin with two NODEs", args: []string{"pin", "n1", "n2"}, code: 2,
			stderr: []string{"pin takes one NODE argument", `"n1"`, `"n2"`}},
		{name: "pin of a malformed name", args: []string{"pin", "no/such node"}, code: 2,
			stderr: []string{`"no/such node" is not a node name`}},
		{name: "pin of an unknown node", args: []string{"pin", "n9"}, code: 1,
			stderr: []string{`unknown node "n9"`, "live nodes: n1, n2, n3"}},
		{name: "switchover to an unknown node", args: []string{"switchover", "--to", "n9"}, code: 1,
			stderr: []string{`unknown node "n9"`}},
		{name: "switchover to the leader", args: []string{"switchover", "--to", leader}, code: 1,
			stderr: []string{leader + " already leads"}},
		{name: "failover without --force", args: []string{"failover", "--to", c.others(leader)[0]}, code: 2,
			stderr: []string{"failover needs --force"}},
		{name: "failover without --to", args: []string{"failover", "--force"}, code: 2,
			stderr: []string{"failover needs --to NODE"}},
		{name: "failover to an unknown node", args: []string{"failover", "--to", "n9", "--force"}, code: 1,
			stderr: []string{`unknown node "n9"`}},
		{name: "revoke without NODE", args: []string{"revoke"}, code: 2,
			stderr: []string{"revoke: missing NODE"}},
		{name: "bad --timeout", args: []string{"status", "--timeout", "soon"}, code: 2,
			stderr: []string{`--timeout "soon"`}},
		{name: "negative --timeout", args: []string{"status", "--timeout", "-5s"}, code: 2,
			stderr: []string{`--timeout "-5s"`}},
		{name: "--timeout without a value", args: []string{"status", "--timeout"}, code: 2,
			stderr: []string{"--timeout needs a value"}},
		{name: "bad --json value", args: []string{"status", "--json=maybe"}, code: 2,
			stderr: []string{`--json="maybe"`}},
		{name: "status with an argument", args: []string{"status", "n1"}, code: 2,
			stderr: []string{"status takes no arguments", `"n1"`}},
		{name: "malformed --etcd", bare: true, args: []string{"--etcd", "ftp://127.0.0.1:1", "--cluster", clusterName, "status"}, code: 2,
			stderr: []string{`--etcd: "ftp://127.0.0.1:1" is not an etcd client URL`}},
		{name: "malformed --cluster", args: []string{"--cluster", "a/b", "status"}, code: 2,
			stderr: []string{`--cluster: "a/b" is not a cluster name`}},
		{name: "no cluster", bare: true, args: []string{"--etcd", c.endpoints(), "status"}, code: 2,
			stderr: []string{"no cluster given"}},
		{name: "no etcd", bare: true, args: []string{"--cluster", clusterName, "status"}, code: 2,
			stderr: []string{"no etcd given"}},
		{name: "missing --config file", bare: true, args: []string{"--config", "/nonexistent/triad.yaml", "status"}, code: 1,
			stderr: []string{"/nonexistent/triad.yaml"}},
		{name: "unreachable etcd", bare: true, code: 1,
			args:   []string{"--etcd", deadEtcd, "--cluster", clusterName, "--timeout", "500ms", "status"},
			stderr: []string{"etcd at " + deadEtcd + " did not answer within 500ms"}},
		{name: "unreachable etcd, pause", bare: true, code: 1,
			args:   []string{"--etcd", deadEtcd, "--cluster", clusterName, "--timeout", "500ms", "pause"},
			stderr: []string{"etcd at " + deadEtcd + " did not answer within 500ms"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r ctlResult
			if tc.bare {
				r = runCtl(t, tc.args...)
			} else {
				r = runCtl(t, append([]string{"--etcd", c.endpoints(), "--cluster", clusterName}, tc.args...)...)
			}
			if r.code != tc.code {
				t.Errorf("exit %d, want %d: %v", r.code, tc.code, r)
			}
			if r.stdout != "" {
				t.Errorf("printed on stdout: %q, want nothing", r.stdout)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not contain %q", r.stderr, want)
				}
			}
			if tc.code == 2 && !strings.Contains(r.stderr, "triadctl help") {
				t.Errorf("usage error without a pointer to 'triadctl help': %q", r.stderr)
			}
			if r.took > 5*time.Second {
				t.Errorf("took %v, want a quick answer (the longest timeout given is 500ms)", r.took)
			}
		})
	}

	after := c.status()
	if after.leaderName() != before.leaderName() || after.Epoch != before.Epoch || after.Pin != nil || after.Paused {
		t.Errorf("the bad commands changed the cluster: before leader %q epoch %d; after leader %q epoch %d pin %q paused %v",
			before.leaderName(), before.Epoch, after.leaderName(), after.Epoch, after.pinName(), after.Paused)
	}
	if r := c.mustCtl("status", "--json"); strings.Contains(r.stdout, `"switchover": {`) {
		t.Errorf("a bad command left a switchover request pending:\n%s", r.stdout)
	}
}
