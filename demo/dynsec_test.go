package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triadmq/triad/dynsec"
)

// TestPlanDynsec checks the demo's dynamic security: one admin password
// per directory, kept across Plans (the cluster keeps its hash), each
// node's dynsec.file seeded once and private, the admin able to log in,
// and anonymous clients allowed everything but $CONTROL.
func TestPlanDynsec(t *testing.T) {
	dir := t.TempDir()
	l, err := Plan(dir, 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.AdminPassword) != 20 {
		t.Fatalf("admin password %q: want 20 characters", l.AdminPassword)
	}
	saved, err := os.ReadFile(filepath.Join(dir, adminPasswordFile))
	if err != nil || strings.TrimSpace(string(saved)) != l.AdminPassword {
		t.Fatalf("DIR/%s = %q (err %v), want the password", adminPasswordFile, saved, err)
	}
	n := l.Nodes[0]
	fi, err := os.Stat(n.DynsecPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want a private file", n.DynsecPath, err, fi.Mode().Perm())
	}
	data, err := os.ReadFile(n.DynsecPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, problems, err := dynsec.Load(data)
	if err != nil || len(problems) > 0 {
		t.Fatalf("seed does not load cleanly: %v %v", err, problems)
	}
	p := dynsec.NewPolicy(cfg)
	admin := dynsec.Identity{Username: AdminUser, HasUsername: true, ClientID: "x"}
	if got := p.Authenticate(admin, []byte(l.AdminPassword), true); got != dynsec.AuthAllowed {
		t.Fatalf("admin login with the demo password: %v", got)
	}
	anon := dynsec.Identity{ClientID: "a"}
	for _, c := range []struct {
		a     dynsec.Access
		topic string
		want  bool
	}{
		{dynsec.AccessPublish, "demo/hello", true},
		{dynsec.AccessSubscribe, "demo/#", true},
		{dynsec.AccessSubscribe, "#", true},
		{dynsec.AccessReceive, "demo/hello", true},
		{dynsec.AccessPublish, dynsec.ControlTopic, false},
		{dynsec.AccessSubscribe, "$CONTROL/dynamic-security/#", false},
		{dynsec.AccessReceive, dynsec.ResponseTopic, false},
	} {
		if got := p.Allowed(anon, c.a, c.topic); got != c.want {
			t.Errorf("anonymous %v %s = %v, want %v", c.a, c.topic, got, c.want)
		}
	}

	// A node's file is the node's once it exists: Plan leaves it alone.
	if err := os.WriteFile(n.DynsecPath, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := Plan(dir, 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if again.AdminPassword != l.AdminPassword {
		t.Fatal("a second Plan made a new admin password; the cluster holds the first one's hash")
	}
	if got, _ := os.ReadFile(n.DynsecPath); string(got) != "kept" {
		t.Fatalf("a second Plan rewrote %s", n.DynsecPath)
	}
}
