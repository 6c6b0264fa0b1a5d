package dynsec

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fixtureSection returns the text of a top-level member of a file
// MarshalFile or Mosquitto wrote: from `"key":` TAB to the end of its
// line group, without the separating comma.
func fixtureSection(t *testing.T, file, key string) string {
	t.Helper()
	start := strings.Index(file, "\n\t\""+key+"\":\t")
	if start < 0 {
		t.Fatalf("no top-level %q in\n%s", key, file)
	}
	rest := file[start+2:]
	// The next top-level member starts at the next line with one tab and
	// a quote; the file ends with "\n}".
	end := strings.Index(rest, "\n\t\"")
	if end < 0 {
		end = strings.LastIndex(rest, "\n}")
	}
	return strings.TrimSuffix(rest[:end], ",")
}

// firstEntry returns the first object of a section's array, `{` to `}`.
func firstEntry(t *testing.T, section string) string {
	t.Helper()
	start, end := strings.Index(section, "[{"), strings.Index(section, "\n\t\t}")
	if start < 0 || end < 0 {
		t.Fatalf("no first entry in %q", section)
	}
	return section[start+1 : end+len("\n\t\t}")]
}

func TestInitConfigMatchesFixture(t *testing.T) {
	fixture := loadFixture(t)
	got := string(InitConfig("admin", fixture.Clients["admin"].Password).MarshalFile())

	// The fixture is an init file after Mosquitto loaded and saved it, plus
	// later commands: its defaultACLAccess, its admin client (the first)
	// and its admin role (the first) are init's, text for text.
	if g, w := fixtureSection(t, got, "defaultACLAccess"), fixtureSection(t, fixtureFile, "defaultACLAccess"); g != w {
		t.Errorf("defaultACLAccess =\n%s\nwant\n%s", g, w)
	}
	for _, section := range []string{"clients", "roles"} {
		g, w := fixtureSection(t, got, section), fixtureSection(t, fixtureFile, section)
		if fg, fw := firstEntry(t, g), firstEntry(t, w); fg != fw {
			t.Errorf("%s[0] =\n%s\nwant\n%s", section, fg, fw)
		}
		if !strings.HasSuffix(g, "}]") || strings.Contains(g, "}, {\n\t\t\t\"") {
			t.Errorf("%s holds more than the one entry:\n%s", section, g)
		}
	}
	if g := fixtureSection(t, got, "groups"); g != "\"groups\":\t[]" {
		t.Errorf("groups = %q, want none", g)
	}
	if strings.Contains(got, "anonymousGroup") {
		t.Error("init config has an anonymous group")
	}

	// The same check on the model: the fixture without what the later
	// commands added is the init config.
	trimmed := NewConfig(fixture.Default)
	trimmed.Clients["admin"] = fixture.Clients["admin"]
	trimmed.Roles["admin"] = fixture.Roles["admin"]
	if want := string(trimmed.MarshalFile()); got != want {
		t.Errorf("MarshalFile(InitConfig) =\n%s\nwant\n%s", got, want)
	}
}

func TestInitConfigShape(t *testing.T) {
	pw := &Password{Hash: bytes.Repeat([]byte{7}, HashBytes), Salt: bytes.Repeat([]byte{8}, SaltBytes), Iterations: DefaultIterations}
	c := InitConfig("root", pw)
	if c.Default != MosquittoDefaultAccess {
		t.Errorf("Default = %+v, want %+v", c.Default, MosquittoDefaultAccess)
	}
	if got := c.ClientNames(); !slices.Equal(got, []string{"root"}) {
		t.Errorf("clients = %q, want [root]", got)
	}
	// The role is "admin" whatever the admin client is called.
	if got := c.RoleNames(); !slices.Equal(got, []string{"admin"}) {
		t.Errorf("roles = %q, want [admin]", got)
	}
	if len(c.Groups) != 0 || c.AnonymousGroup != "" {
		t.Errorf("groups %v, anonymous %q; want none", c.GroupNames(), c.AnonymousGroup)
	}
	want := &Client{Username: "root", TextName: strp("Dynsec admin user"), Roles: []RoleRef{{"admin", NoPriority}}, Password: pw}
	if got := c.Clients["root"]; !reflect.DeepEqual(got, want) {
		wc := NewConfig(DefaultAccess{})
		wc.Clients["root"] = want
		t.Errorf("client =\n%s\nwant\n%s", fixtureSection(t, string(c.MarshalFile()), "clients"),
			fixtureSection(t, string(wc.MarshalFile()), "clients"))
	}
	// In the order init writes them (spec §5.1), which is their insertion
	// order; no priority, so 0.
	const control, sys = "$CONTROL/dynamic-security/#", "$SYS/#"
	wantACLs := []ACL{
		{PublishClientSend, control, 0, true}, {PublishClientReceive, control, 0, true}, {SubscribePattern, control, 0, true},
		{PublishClientReceive, sys, 0, true}, {SubscribePattern, sys, 0, true},
		{PublishClientReceive, "#", 0, true}, {SubscribePattern, "#", 0, true}, {UnsubscribePattern, "#", 0, true},
	}
	if got := c.Roles["admin"]; got.TextName != nil || got.TextDescription != nil || !slices.Equal(got.ACLs, wantACLs) {
		t.Errorf("admin role = %+v\nwant ACLs %v", got, wantACLs)
	}

	// The config owns its password: changing the caller's does not reach it.
	pw.Hash[0], pw.Salt[0] = 0, 0
	if p := c.Clients["root"].Password; p.Hash[0] != 7 || p.Salt[0] != 8 {
		t.Error("InitConfig kept the caller's password slices")
	}
}

func TestInitConfigWithoutPassword(t *testing.T) {
	c := InitConfig("admin", nil)
	if c.Clients["admin"].Password != nil {
		t.Fatal("client has a password")
	}
	if out := string(c.MarshalFile()); strings.Contains(out, `"password"`) || strings.Contains(out, `"salt"`) {
		t.Errorf("MarshalFile wrote password fields:\n%s", out)
	}
}

func TestInitConfigLoadsBack(t *testing.T) {
	c := InitConfig("admin", &Password{Hash: make([]byte, HashBytes), Salt: make([]byte, SaltBytes), Iterations: 101})
	got, problems, err := Load(c.MarshalFile())
	if err != nil || len(problems) != 0 {
		t.Fatalf("Load = %v, %v", problems, err)
	}
	if !reflect.DeepEqual(normalised(got), normalised(c)) {
		t.Errorf("Load(MarshalFile(InitConfig)) =\n%s\nwant\n%s", got.MarshalFile(), c.MarshalFile())
	}
}
