package dynsec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fixturePath is the file Mosquitto 2.0.11 wrote (testdata/mosquitto/
// README.md says how); fixtureFile is its content.
const fixturePath = "testdata/mosquitto/dynamic-security.json"

var fixtureFile = readTestdata(fixturePath)

// loadFixture loads the Mosquitto fixture, failing on any Problem: the
// file Mosquitto wrote must load cleanly.
func loadFixture(t *testing.T) *Config {
	t.Helper()
	c, problems, err := Load([]byte(fixtureFile))
	if err != nil {
		t.Fatalf("Load(fixture): %v", err)
	}
	for _, p := range problems {
		t.Errorf("Load(fixture) problem: %s", p)
	}
	return c
}

func TestFileFixtureMarshalsByteForByte(t *testing.T) {
	got := string(loadFixture(t).MarshalFile())
	if got == fixtureFile {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(fixtureFile, "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Fatalf("MarshalFile differs from the fixture at line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("MarshalFile has %d lines, the fixture %d (last: %q)", len(gl), len(wl), gl[len(gl)-1])
}

func TestFileFixtureContents(t *testing.T) {
	c := loadFixture(t)
	if want := (DefaultAccess{PublishClientReceive: true, Unsubscribe: true}); c.Default != want {
		t.Errorf("Default = %+v, want %+v", c.Default, want)
	}
	if got, want := c.ClientNames(), []string{"admin", "alice", "bob", "mallory"}; !slices.Equal(got, want) {
		t.Errorf("clients = %q, want %q", got, want)
	}
	if got, want := c.RoleNames(), []string{"admin", "operator", "readonly", "sensor"}; !slices.Equal(got, want) {
		t.Errorf("roles = %q, want %q", got, want)
	}
	if c.AnonymousGroup != "guests" {
		t.Errorf("AnonymousGroup = %q, want guests", c.AnonymousGroup)
	}
	admin := c.Clients["admin"]
	if admin.TextName == nil || *admin.TextName != "Dynsec admin user" || admin.TextDescription != nil {
		t.Errorf("admin text = %v, %v", admin.TextName, admin.TextDescription)
	}
	if c.Clients["alice"].ClientID != "alice-device" || !c.Clients["mallory"].Disabled || c.Clients["bob"].Disabled {
		t.Errorf("alice clientid %q, mallory disabled %v, bob disabled %v",
			c.Clients["alice"].ClientID, c.Clients["mallory"].Disabled, c.Clients["bob"].Disabled)
	}
	if got := c.Clients["bob"].Roles; !slices.Equal(got, []RoleRef{{"operator", 3}}) {
		t.Errorf("bob roles = %v", got)
	}
	if got := c.Groups["devices"]; !slices.Equal(got.Roles, []RoleRef{{"sensor", 2}}) || !slices.Equal(got.Members, []Member{{"alice", NoPriority}}) {
		t.Errorf("devices = %+v", got)
	}
	for name, p := range map[string]*Password{"admin": admin.Password, "alice": c.Clients["alice"].Password} {
		if p == nil || len(p.Salt) != SaltBytes || len(p.Hash) != HashBytes || p.Iterations != DefaultIterations {
			t.Errorf("%s password = %+v", name, p)
		}
	}
	wantSensor := []ACL{{PublishClientSend, "sensors/%c/#", 5, true}, {PublishClientReceive, "commands/#", 1, true},
		{SubscribePattern, "commands/%u/#", 5, true}}
	if got := c.Roles["sensor"].ACLs; !slices.Equal(got, wantSensor) {
		t.Errorf("sensor ACLs = %v, want %v", got, wantSensor)
	}
}

func TestFileProblemString(t *testing.T) {
	p := Problem{Where: `clients[3] (username "bob")`, What: "has no username; skipped"}
	if got, want := p.String(), `clients[3] (username "bob"): has no username; skipped`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestFileLoadEmpty(t *testing.T) {
	for _, data := range []string{"", " ", "\n\t\r \n"} {
		c, problems, err := Load([]byte(data))
		if err != nil || len(problems) != 0 {
			t.Errorf("Load(%q) = problems %v, err %v; want none", data, problems, err)
			continue
		}
		if !reflect.DeepEqual(c, NewConfig(DefaultAccess{})) {
			t.Errorf("Load(%q) = %+v, want an empty config denying everything", data, c)
		}
	}
}

func TestFileLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
		wrapped          bool // the error wraps the JSON parser's
	}{
		{"truncated", `{"clients":[`, "not valid JSON", true},
		{"syntax", `{"clients":]}`, "not valid JSON (at byte", true},
		{"trailing data", `{} {}`, "not valid JSON", true},
		{"unicode space only", "\u00a0", "not valid JSON", true},
		{"array", `[{"username":"u"}]`, "file holds an array, not a JSON object", false},
		{"string", `"x"`, "file holds a string, not a JSON object", false},
		{"number", `1`, "file holds a number, not a JSON object", false},
		{"null", `null`, "file holds null, not a JSON object", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, problems, err := Load([]byte(tc.data))
			if err == nil {
				t.Fatalf("Load(%q) = %+v, %v; want an error", tc.data, c, problems)
			}
			if c != nil || problems != nil {
				t.Errorf("Load(%q) returned a config or problems with its error", tc.data)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if got := errors.Unwrap(err) != nil; got != tc.wrapped {
				t.Errorf("error %q wraps an error: %v, want %v", err, got, tc.wrapped)
			}
		})
	}
}

// Load cases build passwords from these. They are distinct strings so
// that runLoadCases can check no Problem ever repeats them.
var (
	testSalt     = []byte("saltsaltsalt")
	testHash     = bytes.Repeat([]byte{0xa5}, HashBytes)
	testSaltB64  = base64.StdEncoding.EncodeToString(testSalt)
	testHashB64  = base64.StdEncoding.EncodeToString(testHash)
	shortSaltB64 = base64.StdEncoding.EncodeToString([]byte("tiny"))
	longSaltB64  = base64.StdEncoding.EncodeToString([]byte("salt-of-16-bytes"))
	shortHashB64 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	testPWFields = `"password":"` + testHashB64 + `","salt":"` + testSaltB64 + `","iterations":101`
)

// loadCase is one Load input. The JSON may use @PW@ for a valid set of
// password fields, and @SALT@/@HASH@ for the valid salt and hash alone.
type loadCase struct {
	name     string
	json     string
	check    func(t *testing.T, c *Config)
	problems []wantProblem // in order
}

type wantProblem struct {
	where string // exact
	what  string // a substring
}

func runLoadCases(t *testing.T, cases []loadCase) {
	t.Helper()
	secrets := []string{testSaltB64, testHashB64, shortSaltB64, longSaltB64, shortHashB64}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.NewReplacer("@PW@", testPWFields, "@SALT@", testSaltB64, "@HASH@", testHashB64).Replace(tc.json)
			c, problems, err := Load([]byte(data))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for i := range max(len(problems), len(tc.problems)) {
				switch {
				case i >= len(problems):
					t.Errorf("missing problem %d: %s: ...%s...", i, tc.problems[i].where, tc.problems[i].what)
				case i >= len(tc.problems):
					t.Errorf("unexpected problem %d: %s", i, problems[i])
				case problems[i].Where != tc.problems[i].where || !strings.Contains(problems[i].What, tc.problems[i].what):
					t.Errorf("problem %d = %s\n want %s: ...%s...", i, problems[i], tc.problems[i].where, tc.problems[i].what)
				}
			}
			for _, p := range problems {
				for _, s := range secrets {
					if strings.Contains(p.String(), s) {
						t.Errorf("problem %q shows a password field's value", p)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func strp(s string) *string { return &s }

// wantNames checks a config's clients, groups and roles by name.
func wantNames(clients, groups, roles []string) func(*testing.T, *Config) {
	return func(t *testing.T, c *Config) {
		t.Helper()
		for _, x := range []struct {
			what      string
			got, want []string
		}{{"clients", c.ClientNames(), clients}, {"groups", c.GroupNames(), groups}, {"roles", c.RoleNames(), roles}} {
			if !slices.Equal(x.got, x.want) && len(x.got)+len(x.want) > 0 {
				t.Errorf("%s = %q, want %q", x.what, x.got, x.want)
			}
		}
	}
}

func TestFileLoadSections(t *testing.T) {
	rest := `"clients":[{"username":"u"}],"groups":[{"groupname":"g","clients":[{"username":"u"}]}],"anonymousGroup":"g"`
	runLoadCases(t, []loadCase{
		{name: "no sections", json: `{}`, check: func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c, NewConfig(DefaultAccess{})) {
				t.Errorf("got %+v, want an empty config", c)
			}
		}},
		{name: "roles not an array stops before everything else",
			json: `{"defaultACLAccess":{"subscribe":true},"roles":{"rolename":"r"},` + rest + `}`,
			check: func(t *testing.T, c *Config) {
				wantNames(nil, nil, nil)(t, c)
				if !c.Default.Subscribe || c.AnonymousGroup != "" {
					t.Errorf("default %+v, anonymous group %q; want the default loaded and no group", c.Default, c.AnonymousGroup)
				}
			},
			problems: []wantProblem{{"roles", "is an object, not an array; Mosquitto stops loading at this point, so clients, groups and anonymousGroup were not loaded"}}},
		{name: "roles null is present and stops too", json: `{"roles":null,` + rest + `}`,
			check:    wantNames(nil, nil, nil),
			problems: []wantProblem{{"roles", "is null, not an array"}}},
		{name: "clients not an array keeps the roles", json: `{"roles":[{"rolename":"r"}],"clients":"u","groups":[{"groupname":"g"}],"anonymousGroup":"g"}`,
			check:    wantNames(nil, nil, []string{"r"}),
			problems: []wantProblem{{"clients", "is a string, not an array; Mosquitto stops loading at this point, so groups and anonymousGroup were not loaded"}}},
		{name: "groups not an array keeps roles and clients", json: `{"roles":[{"rolename":"r"}],"clients":[{"username":"u"}],"groups":{"groupname":"g"},"anonymousGroup":"g"}`,
			check: func(t *testing.T, c *Config) {
				wantNames([]string{"u"}, nil, []string{"r"})(t, c)
				if c.AnonymousGroup != "" {
					t.Errorf("AnonymousGroup = %q, want none", c.AnonymousGroup)
				}
			},
			problems: []wantProblem{{"groups", "is an object, not an array; Mosquitto stops loading at this point, so anonymousGroup was not loaded"}}},
		{name: "roles load before clients and groups whatever the key order",
			json: `{"groups":[{"groupname":"g","roles":[{"rolename":"r"}],"clients":[{"username":"u"}]}],"clients":[{"username":"u","roles":[{"rolename":"r"}]}],"roles":[{"rolename":"r"}]}`,
			check: func(t *testing.T, c *Config) {
				if len(c.Clients["u"].Roles) != 1 || len(c.Groups["g"].Roles) != 1 || len(c.Groups["g"].Members) != 1 {
					t.Errorf("links lost: client %+v, group %+v", c.Clients["u"], c.Groups["g"])
				}
			}},
	})
}

func TestFileLoadKeys(t *testing.T) {
	runLoadCases(t, []loadCase{
		{name: "keys are case-insensitive",
			json: `{"DEFAULTACLACCESS":{"PublishClientSend":true,"SUBSCRIBE":true},` +
				`"Roles":[{"RoleName":"r","TEXTNAME":"RT","ACLS":[{"AclType":"subscribeLITERAL","Topic":"t","Priority":3,"Allow":true}]}],` +
				`"CLIENTS":[{"UserName":"u","TextName":"T","TextDescription":"D","ClientId":"cid","Disabled":true,"Roles":[{"ROLENAME":"r","PRIORITY":2}],` +
				`"PASSWORD":"@HASH@","Salt":"@SALT@","ITERATIONS":7}],` +
				`"Groups":[{"GroupName":"g","Clients":[{"UserName":"u","Priority":4}],"ROLES":[{"rolename":"r"}]}],"AnonymousGROUP":"g"}`,
			check: func(t *testing.T, c *Config) {
				want := NewConfig(DefaultAccess{PublishClientSend: true, Subscribe: true})
				want.Roles["r"] = &Role{Name: "r", TextName: strp("RT"), ACLs: []ACL{{SubscribeLiteral, "t", 3, true}}}
				want.Clients["u"] = &Client{Username: "u", ClientID: "cid", TextName: strp("T"), TextDescription: strp("D"), Disabled: true,
					Roles: []RoleRef{{"r", 2}}, Password: &Password{Hash: testHash, Salt: testSalt, Iterations: 7}}
				want.Groups["g"] = &Group{Name: "g", Roles: []RoleRef{{"r", NoPriority}}, Members: []Member{{"u", 4}}}
				want.AnonymousGroup = "g"
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %s\nwant %s", c.MarshalFile(), want.MarshalFile())
				}
			}},
		{name: "of keys differing in case the first wins", json: `{"clients":[{"username":"a","USERNAME":"b"}]}`,
			check:    wantNames([]string{"a"}, nil, nil),
			problems: []wantProblem{{`clients[0] (username "a")`, `key "USERNAME" repeats "username" (keys are case-insensitive and the first one counts); ignored`}}},
		{name: "unknown keys are reported",
			json:  `{"version":2,"roles":[{"rolename":"r","acls":[{"acltype":"subscribeLiteral","topic":"t","qos":1}]}],"clients":[{"username":"u","groups":[{"groupname":"g"}],"roles":[{"rolename":"r","x":1}]}],"groups":[{"groupname":"g","clients":[{"username":"u","y":1}]}],"defaultACLAccess":{"publish":true}}`,
			check: wantNames([]string{"u"}, []string{"g"}, []string{"r"}),
			problems: []wantProblem{
				{"file", `unknown key "version" is ignored`},
				{"defaultACLAccess", `unknown key "publish" is ignored`},
				{`roles[0] (rolename "r") acls[0]`, `unknown key "qos" is ignored`},
				{`clients[0] (username "u")`, `unknown key "groups" is ignored`},
				{`clients[0] (username "u") roles[0] (rolename "r")`, `unknown key "x" is ignored`},
				{`groups[0] (groupname "g") clients[0] (username "u")`, `unknown key "y" is ignored`},
			}},
		{name: "a NUL ends a name as in C",
			json: `{"roles":[{"rolename":"r\u0000x"}],"clients":[{"username":"a\u0000b","textname":"t\u0000u","roles":[{"rolename":"r\u0000y"}]},{"username":"a"}]}`,
			check: func(t *testing.T, c *Config) {
				wantNames([]string{"a"}, nil, []string{"r"})(t, c)
				if cl := c.Clients["a"]; *cl.TextName != "t" || !slices.Equal(cl.Roles, []RoleRef{{"r", NoPriority}}) {
					t.Errorf("client a = %+v", cl)
				}
			},
			problems: []wantProblem{{`clients[1] (username "a")`, "has the same username as clients[0]; skipped, the first one is kept"}}},
	})
}

func TestFileLoadDefaultAccess(t *testing.T) {
	runLoadCases(t, []loadCase{
		{name: "missing means deny all", json: `{"clients":[]}`, check: func(t *testing.T, c *Config) {
			if c.Default != (DefaultAccess{}) {
				t.Errorf("Default = %+v, want all false", c.Default)
			}
		}},
		{name: "missing keys are false", json: `{"defaultACLAccess":{"publishClientReceive":true}}`, check: func(t *testing.T, c *Config) {
			if c.Default != (DefaultAccess{PublishClientReceive: true}) {
				t.Errorf("Default = %+v", c.Default)
			}
		}},
		{name: "not an object", json: `{"defaultACLAccess":[true,true,true,true]}`,
			check: func(t *testing.T, c *Config) {
				if c.Default != (DefaultAccess{}) {
					t.Errorf("Default = %+v, want all false", c.Default)
				}
			},
			problems: []wantProblem{{"defaultACLAccess", "is an array, not an object; every default access is deny"}}},
		{name: "non-boolean values are false",
			json: `{"defaultACLAccess":{"publishClientSend":1,"publishClientReceive":"true","subscribe":true,"unsubscribe":null}}`,
			check: func(t *testing.T, c *Config) {
				if c.Default != (DefaultAccess{Subscribe: true}) {
					t.Errorf("Default = %+v, want only subscribe", c.Default)
				}
			},
			problems: []wantProblem{
				{"defaultACLAccess", "publishClientSend is a number, not a boolean; false is used"},
				{"defaultACLAccess", "publishClientReceive is a string, not a boolean; false is used"},
				{"defaultACLAccess", "unsubscribe is null, not a boolean; false is used"},
			}},
	})
}

func TestFileLoadClients(t *testing.T) {
	runLoadCases(t, []loadCase{
		{name: "entries without a string username are skipped",
			json:  `{"clients":[1,{"textname":"x"},{"username":7},{"username":null},{"username":"ok"}]}`,
			check: wantNames([]string{"ok"}, nil, nil),
			problems: []wantProblem{
				{"clients[0]", "is a number, not an object; skipped"},
				{"clients[1]", "has no username; skipped"},
				{"clients[2]", "username is a number, not a string; skipped"},
				{"clients[3]", "username is null, not a string; skipped"},
			}},
		{name: "the empty username is a name", json: `{"clients":[{"username":""}]}`, check: wantNames([]string{""}, nil, nil)},
		{name: "duplicate usernames keep the first",
			json: `{"clients":[{"username":"u","textname":"first"},{"username":"v"},{"username":"u","textname":"second"}]}`,
			check: func(t *testing.T, c *Config) {
				if got := c.Clients["u"].TextName; got == nil || *got != "first" {
					t.Errorf("u textname = %v, want first", got)
				}
			},
			problems: []wantProblem{{`clients[2] (username "u")`, "has the same username as clients[0]; skipped, the first one is kept"}}},
		{name: "disabled",
			json: `{"clients":[{"username":"t","disabled":true},{"username":"f","disabled":false},{"username":"s","disabled":"yes"},{"username":"n","disabled":1}]}`,
			check: func(t *testing.T, c *Config) {
				for name, want := range map[string]bool{"t": true, "f": false, "s": false, "n": false} {
					if c.Clients[name].Disabled != want {
						t.Errorf("%s disabled = %v, want %v", name, c.Clients[name].Disabled, want)
					}
				}
			},
			problems: []wantProblem{
				{`clients[2] (username "s")`, "disabled is a string, not a boolean; false is used"},
				{`clients[3] (username "n")`, "disabled is a number, not a boolean; false is used"},
			}},
		{name: "clientid",
			json: `{"clients":[{"username":"set","clientid":"c1"},{"username":"num","clientid":5},{"username":"empty","clientid":""}]}`,
			check: func(t *testing.T, c *Config) {
				if got := c.Clients["set"]; got.ClientID != "c1" || got.Disabled {
					t.Errorf("set = %+v", got)
				}
				if got := c.Clients["num"]; got.ClientID != "" || got.Disabled {
					t.Errorf("num = %+v, want no clientid, enabled", got)
				}
				if got := c.Clients["empty"]; got.ClientID != "" || !got.Disabled {
					t.Errorf("empty = %+v, want disabled: it could never log in to Mosquitto", got)
				}
			},
			problems: []wantProblem{
				{`clients[1] (username "num")`, "clientid is a number, not a string; ignored"},
				{`clients[2] (username "empty")`, `clientid is "", which Mosquitto treats as a restriction no client can meet; the client is disabled instead`},
			}},
		{name: "text fields",
			json: `{"clients":[{"username":"e","textname":"","textdescription":""},{"username":"a"},{"username":"w","textname":1,"textdescription":[]}]}`,
			check: func(t *testing.T, c *Config) {
				if e := c.Clients["e"]; e.TextName == nil || *e.TextName != "" || e.TextDescription == nil || *e.TextDescription != "" {
					t.Errorf(`e text = %v, %v; want "" kept as a value`, e.TextName, e.TextDescription)
				}
				for _, name := range []string{"a", "w"} {
					if cl := c.Clients[name]; cl.TextName != nil || cl.TextDescription != nil {
						t.Errorf("%s text = %v, %v; want unset", name, cl.TextName, cl.TextDescription)
					}
				}
			},
			problems: []wantProblem{
				{`clients[2] (username "w")`, "textname is a number, not a string; ignored"},
				{`clients[2] (username "w")`, "textdescription is an array, not a string; ignored"},
			}},
	})
}

func TestFileLoadPasswords(t *testing.T) {
	kept := func(want *Password) func(*testing.T, *Config) {
		return func(t *testing.T, c *Config) {
			cl := c.Clients["u"]
			if cl == nil {
				t.Fatal("client u was dropped")
			}
			if !reflect.DeepEqual(cl.Password, want) {
				t.Errorf("password = %+v, want %+v", cl.Password, want)
			}
		}
	}
	dropped := wantNames([]string{"other"}, nil, nil)
	other := `,{"username":"other"}]}`
	runLoadCases(t, []loadCase{
		{name: "valid", json: `{"clients":[{"username":"u",@PW@}]}`, check: kept(&Password{testHash, testSalt, 101})},
		{name: "iterations are honoured and truncated", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"@SALT@","iterations":7.9}]}`,
			check: kept(&Password{testHash, testSalt, 7})},
		{name: "no password fields", json: `{"clients":[{"username":"u"}]}`, check: kept(nil)},
		{name: "hash alone", json: `{"clients":[{"username":"u","password":"@HASH@"}]}`, check: kept(nil),
			problems: []wantProblem{{`clients[0] (username "u")`, "salt is missing, iterations is missing; the client is kept without a password, so it cannot log in"}}},
		{name: "salt of the wrong type", json: `{"clients":[{"username":"u","password":"@HASH@","salt":12,"iterations":101}]}`, check: kept(nil),
			problems: []wantProblem{{`clients[0] (username "u")`, "salt is a number, not a string; the client is kept without a password"}}},
		{name: "iterations of the wrong type", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"@SALT@","iterations":"101"}]}`, check: kept(nil),
			problems: []wantProblem{{`clients[0] (username "u")`, "iterations is a string, not a number; the client is kept without a password"}}},
		{name: "hash null", json: `{"clients":[{"username":"u","password":null,"salt":"@SALT@","iterations":101}]}`, check: kept(nil),
			problems: []wantProblem{{`clients[0] (username "u")`, "password is null, not a string; the client is kept without a password"}}},
		{name: "zero iterations drop the client", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"@SALT@","iterations":0}` + other, check: dropped,
			problems: []wantProblem{{`clients[0] (username "u")`, "iterations is less than 1; the client is dropped"}}},
		{name: "fractional iterations below 1 drop the client", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"@SALT@","iterations":0.9}` + other, check: dropped,
			problems: []wantProblem{{`clients[0] (username "u")`, "iterations is less than 1; the client is dropped"}}},
		{name: "negative iterations drop the client", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"@SALT@","iterations":-3}` + other, check: dropped,
			problems: []wantProblem{{`clients[0] (username "u")`, "iterations is less than 1; the client is dropped"}}},
		{name: "short salt drops the client", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"` + shortSaltB64 + `","iterations":101}` + other, check: dropped,
			problems: []wantProblem{{`clients[0] (username "u")`, "salt is not base64 of exactly 12 bytes; the client is dropped"}}},
		{name: "long salt drops the client", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"` + longSaltB64 + `","iterations":101}` + other, check: dropped,
			problems: []wantProblem{{`clients[0] (username "u")`, "salt is not base64 of exactly 12 bytes"}}},
		{name: "salt not base64 drops the client", json: `{"clients":[{"username":"u","password":"@HASH@","salt":"!!!!not base64!!","iterations":101}` + other, check: dropped,
			problems: []wantProblem{{`clients[0] (username "u")`, "salt is not base64 of exactly 12 bytes"}}},
		{name: "short hash drops the client", json: `{"clients":[{"username":"u","password":"` + shortHashB64 + `","salt":"@SALT@","iterations":101}` + other, check: dropped,
			problems: []wantProblem{{`clients[0] (username "u")`, "password is not base64 of exactly 64 bytes; the client is dropped"}}},
		{name: "a dropped client does not hide a later one of the same name",
			json:     `{"clients":[{"username":"u","password":"@HASH@","salt":"@SALT@","iterations":0},{"username":"u",@PW@}]}`,
			check:    kept(&Password{testHash, testSalt, 101}),
			problems: []wantProblem{{`clients[0] (username "u")`, "iterations is less than 1"}}},
	})
}

func TestFileLoadClientRoles(t *testing.T) {
	roles := `"roles":[{"rolename":"r1"},{"rolename":"r2"},{"rolename":"r3"}]`
	wantRoles := func(want ...RoleRef) func(*testing.T, *Config) {
		return func(t *testing.T, c *Config) {
			if got := c.Clients["u"].Roles; !slices.Equal(got, want) {
				t.Errorf("roles = %v, want %v", got, want)
			}
		}
	}
	runLoadCases(t, []loadCase{
		{name: "sorted by priority then name",
			json:  `{` + roles + `,"clients":[{"username":"u","roles":[{"rolename":"r3"},{"rolename":"r1","priority":0},{"rolename":"r2","priority":0}]}]}`,
			check: wantRoles(RoleRef{"r1", 0}, RoleRef{"r2", 0}, RoleRef{"r3", NoPriority})},
		{name: "priorities truncate like cJSON",
			json:  `{` + roles + `,"clients":[{"username":"u","roles":[{"rolename":"r1","priority":2.7},{"rolename":"r2","priority":-0.5},{"rolename":"r3","priority":-1.5}]}]}`,
			check: wantRoles(RoleRef{"r1", 2}, RoleRef{"r2", 0}, RoleRef{"r3", NoPriority})},
		{name: "priorities saturate like cJSON",
			json:  `{` + roles + `,"clients":[{"username":"u","roles":[{"rolename":"r1","priority":1e12},{"rolename":"r2","priority":-1e12}]}]}`,
			check: wantRoles(RoleRef{"r1", math.MaxInt32}, RoleRef{"r2", math.MinInt32})},
		{name: "bad references are dropped",
			json: `{` + roles + `,"clients":[{"username":"u","roles":[5,{"priority":1},{"rolename":"nope"},{"rolename":"r1","priority":2},` +
				`{"rolename":"r1","priority":9},{"rolename":"r2","priority":"7"},{"rolename":false}]}]}`,
			check: wantRoles(RoleRef{"r1", 2}, RoleRef{"r2", NoPriority}),
			problems: []wantProblem{
				{`clients[0] (username "u") roles[0]`, "is a number, not an object; skipped"},
				{`clients[0] (username "u") roles[1]`, "has no string rolename; skipped"},
				{`clients[0] (username "u") roles[2] (rolename "nope")`, "names a role that was not loaded; dropped"},
				{`clients[0] (username "u") roles[4] (rolename "r1")`, "repeats a role already listed; dropped"},
				{`clients[0] (username "u") roles[5] (rolename "r2")`, "priority is a string, not a number; -1 is used"},
				{`clients[0] (username "u") roles[6]`, "has no string rolename; skipped"},
			}},
		{name: "roles not an array", json: `{` + roles + `,"clients":[{"username":"u","roles":{"rolename":"r1"}}]}`,
			check:    wantRoles(),
			problems: []wantProblem{{`clients[0] (username "u")`, "roles is an object, not an array; ignored"}}},
	})
}

func TestFileLoadRoles(t *testing.T) {
	wantACLs := func(want ...ACL) func(*testing.T, *Config) {
		return func(t *testing.T, c *Config) {
			if got := c.Roles["r"].ACLs; !slices.Equal(got, want) {
				t.Errorf("ACLs = %v\nwant %v", got, want)
			}
		}
	}
	runLoadCases(t, []loadCase{
		{name: "entries without a string rolename are skipped",
			json:  `{"roles":[[],{"textname":"x"},{"rolename":3},{"rolename":null},{"rolename":"r"}]}`,
			check: wantNames(nil, nil, []string{"r"}),
			problems: []wantProblem{
				{"roles[0]", "is an array, not an object; skipped"},
				{"roles[1]", "has no rolename; skipped"},
				{"roles[2]", "rolename is a number, not a string; skipped"},
				{"roles[3]", "rolename is null, not a string; skipped"},
			}},
		{name: "duplicate role names keep the first",
			json: `{"roles":[{"rolename":"r","textname":"first"},{"rolename":"r","textname":"second","acls":[{"acltype":"subscribeLiteral","topic":"t"}]}]}`,
			check: func(t *testing.T, c *Config) {
				if r := c.Roles["r"]; *r.TextName != "first" || len(r.ACLs) != 0 {
					t.Errorf("r = %+v, want the first entry", r)
				}
			},
			problems: []wantProblem{{`roles[1] (rolename "r")`, "has the same rolename as roles[0]; skipped, the first one is kept"}}},
		{name: "text fields",
			json: `{"roles":[{"rolename":"r","textname":"","textdescription":"D"},{"rolename":"w","textname":1,"textdescription":null}]}`,
			check: func(t *testing.T, c *Config) {
				if r := c.Roles["r"]; r.TextName == nil || *r.TextName != "" || r.TextDescription == nil || *r.TextDescription != "D" {
					t.Errorf("r text = %v, %v", r.TextName, r.TextDescription)
				}
				if w := c.Roles["w"]; w.TextName != nil || w.TextDescription != nil {
					t.Errorf("w text = %v, %v; want unset", w.TextName, w.TextDescription)
				}
			},
			problems: []wantProblem{
				{`roles[1] (rolename "w")`, "textname is a number, not a string; ignored"},
				{`roles[1] (rolename "w")`, "textdescription is null, not a string; ignored"},
			}},
		{name: "acls not an array", json: `{"roles":[{"rolename":"r","acls":{"acltype":"subscribeLiteral","topic":"t"}}]}`,
			check:    wantACLs(),
			problems: []wantProblem{{`roles[0] (rolename "r")`, "acls is an object, not an array; the role has no ACLs"}}},
		{name: "ACLs in file order, duplicates kept, defaults applied",
			json: `{"roles":[{"rolename":"r","acls":[{"acltype":"unsubscribePattern","topic":"#"},{"acltype":"SUBSCRIBEPATTERN","topic":"a","priority":-2.5,"allow":true},` +
				`{"acltype":"publishClientSend","topic":"b","priority":4,"allow":false},{"acltype":"publishClientSend","topic":"b","priority":4,"allow":false}]}]}`,
			check: wantACLs(ACL{UnsubscribePattern, "#", 0, false}, ACL{SubscribePattern, "a", -2, true},
				ACL{PublishClientSend, "b", 4, false}, ACL{PublishClientSend, "b", 4, false})},
		{name: "bad ACLs are skipped",
			json: `{"roles":[{"rolename":"r","acls":["x",{"topic":"t"},{"acltype":"publish","topic":"t"},{"acltype":"subscribeLiteral"},` +
				`{"acltype":"subscribeLiteral","topic":5},{"acltype":"subscribeLiteral","topic":"a","priority":"high","allow":"yes"},{"acltype":7,"topic":"t"}]}]}`,
			check: wantACLs(ACL{SubscribeLiteral, "a", 0, false}),
			problems: []wantProblem{
				{`roles[0] (rolename "r") acls[0]`, "is a string, not an object; skipped"},
				{`roles[0] (rolename "r") acls[1]`, "has no string acltype; skipped"},
				{`roles[0] (rolename "r") acls[2]`, `acltype "publish" is not one of publishClientSend, publishClientReceive, subscribeLiteral, subscribePattern, unsubscribeLiteral, unsubscribePattern; skipped`},
				{`roles[0] (rolename "r") acls[3]`, "has no string topic; skipped"},
				{`roles[0] (rolename "r") acls[4]`, "has no string topic; skipped"},
				{`roles[0] (rolename "r") acls[5]`, "priority is a string, not a number; 0 is used"},
				{`roles[0] (rolename "r") acls[5]`, "allow is a string, not a boolean; false is used"},
				{`roles[0] (rolename "r") acls[6]`, "has no string acltype; skipped"},
			}},
	})
}

func TestFileLoadGroups(t *testing.T) {
	base := `"roles":[{"rolename":"r"},{"rolename":"s"}],"clients":[{"username":"b"},{"username":"a"}]`
	runLoadCases(t, []loadCase{
		{name: "entries without a string groupname are skipped",
			json:  `{"groups":[true,{"roles":[]},{"groupname":{}},{"groupname":"g"}]}`,
			check: wantNames(nil, []string{"g"}, nil),
			problems: []wantProblem{
				{"groups[0]", "is a boolean, not an object; skipped"},
				{"groups[1]", "has no groupname; skipped"},
				{"groups[2]", "groupname is an object, not a string; skipped"},
			}},
		{name: "duplicate group names keep the first",
			json: `{` + base + `,"groups":[{"groupname":"g","clients":[{"username":"a"}]},{"groupname":"g","clients":[{"username":"b"}]}]}`,
			check: func(t *testing.T, c *Config) {
				if got := c.Groups["g"].Members; !slices.Equal(got, []Member{{"a", NoPriority}}) {
					t.Errorf("members = %v, want the first entry's", got)
				}
			},
			problems: []wantProblem{{`groups[1] (groupname "g")`, "has the same groupname as groups[0]; skipped, the first one is kept"}}},
		{name: "roles and members",
			json: `{` + base + `,"groups":[{"groupname":"g","textname":"","textdescription":2,` +
				`"roles":[{"rolename":"s"},{"rolename":"x"},{"rolename":"r","priority":1},{"rolename":"s","priority":8}],` +
				`"clients":[{"username":"b","priority":5},{"username":"zz"},{"username":"a"},{"username":"b"},"a",{"priority":1},{"username":"a","priority":"1"}]}]}`,
			check: func(t *testing.T, c *Config) {
				g := c.Groups["g"]
				want := &Group{Name: "g", TextName: strp(""), Roles: []RoleRef{{"r", 1}, {"s", NoPriority}},
					Members: []Member{{"a", NoPriority}, {"b", 5}}}
				if !reflect.DeepEqual(g, want) {
					t.Errorf("g = %+v\nwant %+v", g, want)
				}
			},
			problems: []wantProblem{
				{`groups[0] (groupname "g")`, "textdescription is a number, not a string; ignored"},
				{`groups[0] (groupname "g") roles[1] (rolename "x")`, "names a role that was not loaded; dropped"},
				{`groups[0] (groupname "g") roles[3] (rolename "s")`, "repeats a role already listed; dropped"},
				{`groups[0] (groupname "g") clients[1] (username "zz")`, "names a client that was not loaded; dropped"},
				{`groups[0] (groupname "g") clients[3] (username "b")`, "repeats a client already listed; dropped"},
				{`groups[0] (groupname "g") clients[4]`, "is a string, not an object; skipped"},
				{`groups[0] (groupname "g") clients[5]`, "has no string username; skipped"},
				{`groups[0] (groupname "g") clients[6] (username "a")`, "repeats a client already listed; dropped"},
			}},
		{name: "member priorities", json: `{` + base + `,"groups":[{"groupname":"g","clients":[{"username":"a","priority":"3"},{"username":"b","priority":-1.5}]}]}`,
			check: func(t *testing.T, c *Config) {
				if got := c.Groups["g"].Members; !slices.Equal(got, []Member{{"a", NoPriority}, {"b", NoPriority}}) {
					t.Errorf("members = %v", got)
				}
			},
			problems: []wantProblem{{`groups[0] (groupname "g") clients[0] (username "a")`, "priority is a string, not a number; -1 is used"}}},
		{name: "roles and clients not arrays", json: `{` + base + `,"groups":[{"groupname":"g","roles":"r","clients":{"username":"a"}}]}`,
			check: func(t *testing.T, c *Config) {
				if g := c.Groups["g"]; g.Roles != nil || g.Members != nil {
					t.Errorf("g = %+v, want no roles or members", g)
				}
			},
			problems: []wantProblem{
				{`groups[0] (groupname "g")`, "roles is a string, not an array; ignored"},
				{`groups[0] (groupname "g")`, "clients is an object, not an array; ignored"},
			}},
	})
}

func TestFileLoadAnonymousGroup(t *testing.T) {
	anon := func(want string) func(*testing.T, *Config) {
		return func(t *testing.T, c *Config) {
			if c.AnonymousGroup != want {
				t.Errorf("AnonymousGroup = %q, want %q", c.AnonymousGroup, want)
			}
		}
	}
	runLoadCases(t, []loadCase{
		{name: "an existing group", json: `{"groups":[{"groupname":"g"}],"anonymousGroup":"g"}`, check: anon("g")},
		{name: "absent", json: `{"groups":[{"groupname":"g"}]}`, check: anon("")},
		{name: "not a string", json: `{"groups":[{"groupname":"g"}],"anonymousGroup":{"groupname":"g"}}`, check: anon(""),
			problems: []wantProblem{{"anonymousGroup", "is an object, not a string; there is no anonymous group"}}},
		{name: "an unknown group", json: `{"groups":[{"groupname":"g"}],"anonymousGroup":"G"}`, check: anon(""),
			problems: []wantProblem{{"anonymousGroup", `names group "G", which was not loaded; there is no anonymous group`}}},
		{name: "no groups section", json: `{"anonymousGroup":"g"}`, check: anon(""),
			problems: []wantProblem{{"anonymousGroup", `names group "g", which was not loaded`}}},
		{name: "a skipped group", json: `{"groups":[{"groupname":"g","clients":[]},{"groupname":"g"}],"anonymousGroup":"g"}`, check: anon("g"),
			problems: []wantProblem{{`groups[1] (groupname "g")`, "has the same groupname"}}},
		{name: "the group named empty", json: `{"groups":[{"groupname":""}],"anonymousGroup":""}`, check: anon(""),
			problems: []wantProblem{{"anonymousGroup", `names the group "", which Triad cannot use as the anonymous group; there is no anonymous group`}}},
	})
}

func TestFileMarshalFormat(t *testing.T) {
	c := NewConfig(DefaultAccess{PublishClientSend: true, Unsubscribe: true})
	c.Clients["u"] = &Client{Username: "u", TextName: strp(""), Disabled: true, Roles: []RoleRef{{"r", NoPriority}}}
	c.Clients["x"] = &Client{Username: "x", ClientID: "cid", TextDescription: strp("d"),
		Password: &Password{Hash: []byte{1, 2, 3}, Salt: []byte{4, 5}, Iterations: 9}}
	c.Groups["g"] = &Group{Name: "g", Roles: []RoleRef{{"r", 0}}, Members: []Member{{"x", 0}, {"u", NoPriority}}}
	c.Roles["r"] = &Role{Name: "r", ACLs: []ACL{{Type: SubscribeLiteral, Topic: "q\"\\/\x01\x1b\x0b\x7f\u00e9\n\t\r\b\f", Priority: -1}}}
	c.Roles["e"] = &Role{Name: "e"}
	// cJSON escapes only '"', '\\' and control characters, in lower-case hex.
	topic := `"q\"\\/\u0001\u001b\u000b` + "\x7f\u00e9" + `\n\t\r\b\f"`
	want := strings.ReplaceAll(`{
	"defaultACLAccess":	{
		"publishClientSend":	true,
		"publishClientReceive":	false,
		"subscribe":	false,
		"unsubscribe":	true
	},
	"clients":	[{
			"username":	"u",
			"textname":	"",
			"disabled":	true,
			"roles":	[{
					"rolename":	"r"
				}]
		}, {
			"username":	"x",
			"clientid":	"cid",
			"textdescription":	"d",
			"roles":	[],
			"password":	"AQID",
			"salt":	"BAU=",
			"iterations":	9
		}],
	"groups":	[{
			"groupname":	"g",
			"roles":	[{
					"rolename":	"r",
					"priority":	0
				}],
			"clients":	[{
					"username":	"u"
				}, {
					"username":	"x",
					"priority":	0
				}]
		}],
	"roles":	[{
			"rolename":	"e",
			"acls":	[]
		}, {
			"rolename":	"r",
			"acls":	[{
					"acltype":	"subscribeLiteral",
					"topic":	TOPIC,
					"priority":	-1,
					"allow":	false
				}]
		}]
}`, "TOPIC", topic)
	if got := string(c.MarshalFile()); got != want {
		t.Errorf("MarshalFile =\n%s\nwant\n%s", got, want)
	}
	if got := c.Groups["g"].Members; got[0].Username != "x" {
		t.Errorf("MarshalFile reordered the config's own members: %v", got)
	}
	var v any
	if err := json.Unmarshal(c.MarshalFile(), &v); err != nil {
		t.Errorf("MarshalFile wrote invalid JSON: %v", err)
	}
}

func TestFileMarshalEmpty(t *testing.T) {
	want := "{\n\t\"defaultACLAccess\":\t{\n\t\t\"publishClientSend\":\tfalse,\n\t\t\"publishClientReceive\":\tfalse,\n" +
		"\t\t\"subscribe\":\tfalse,\n\t\t\"unsubscribe\":\tfalse\n\t},\n\t\"clients\":\t[],\n\t\"groups\":\t[],\n\t\"roles\":\t[]\n}"
	if got := string(NewConfig(DefaultAccess{}).MarshalFile()); got != want {
		t.Errorf("MarshalFile = %q, want %q", got, want)
	}
}

func TestFileMarshalSortOrder(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	for _, n := range []string{"b", "B", "a", "_"} {
		c.Clients[n] = &Client{Username: n, Roles: []RoleRef{{"x", NoPriority}, {"y", 5}, {"a", 5}, {"z", 0}, {"m", -7}}}
		c.Groups[n] = &Group{Name: n, Members: []Member{{"b", 1}, {"B", 2}, {"a", NoPriority}}}
		c.Roles[n] = &Role{Name: n, ACLs: []ACL{{UnsubscribePattern, "#", 0, true}, {PublishClientSend, "a", 0, true},
			{PublishClientSend, "b", 5, true}, {SubscribeLiteral, "c", 0, true}, {PublishClientReceive, "d", 0, true},
			{PublishClientSend, "e", 5, true}, {UnsubscribeLiteral, "f", 1, true}, {SubscribePattern, "g", 2, true}}}
	}
	var file struct {
		Clients []struct {
			Username string
			Roles    []struct{ Rolename string }
		}
		Groups []struct {
			Groupname string
			Clients   []struct{ Username string }
		}
		Roles []struct {
			Rolename string
			ACLs     []struct{ Topic string }
		}
	}
	if err := json.Unmarshal(c.MarshalFile(), &file); err != nil {
		t.Fatal(err)
	}
	names := func(n int, f func(int) string) string {
		var s []string
		for i := range n {
			s = append(s, f(i))
		}
		return strings.Join(s, " ")
	}
	const byteOrder = "B _ a b"
	for _, x := range []struct{ what, got, want string }{
		{"clients", names(len(file.Clients), func(i int) string { return file.Clients[i].Username }), byteOrder},
		{"groups", names(len(file.Groups), func(i int) string { return file.Groups[i].Groupname }), byteOrder},
		{"roles", names(len(file.Roles), func(i int) string { return file.Roles[i].Rolename }), byteOrder},
		{"client roles", names(len(file.Clients[0].Roles), func(i int) string { return file.Clients[0].Roles[i].Rolename }), "a y z x m"},
		{"group clients", names(len(file.Groups[0].Clients), func(i int) string { return file.Groups[0].Clients[i].Username }), "B a b"},
		{"role ACLs", names(len(file.Roles[0].ACLs), func(i int) string { return file.Roles[0].ACLs[i].Topic }), "b e a d c g f #"},
	} {
		if x.got != x.want {
			t.Errorf("%s in order %q, want %q", x.what, x.got, x.want)
		}
	}
}

// fullConfig sets every field of the model, with the values that are
// easy to lose: "" against nil text, priorities -1, 0, negative and
// positive, duplicate ACLs, odd bytes in names.
func fullConfig() *Config {
	c := NewConfig(DefaultAccess{PublishClientSend: true, Subscribe: true})
	pw := func(b byte, iter int) *Password {
		return &Password{Hash: bytes.Repeat([]byte{b}, HashBytes), Salt: bytes.Repeat([]byte{b + 1}, SaltBytes), Iterations: iter}
	}
	odd := "qu\"ote\\ \x01 \u00e9 /"
	c.Roles["r"] = &Role{Name: "r", TextName: strp(""), TextDescription: strp("role r"), ACLs: []ACL{
		{PublishClientSend, "a/#", 0, true}, {PublishClientSend, "a/#", 0, true}, {SubscribePattern, "+/x", -1, false},
		{PublishClientReceive, "b", 7, true}, {SubscribeLiteral, "c", -9, true}, {UnsubscribeLiteral, "d", 3, false},
		{UnsubscribePattern, "#", 0, true}, {PublishClientSend, "e", 2, false}}}
	c.Roles[odd] = &Role{Name: odd, TextName: strp(odd)}
	c.Roles["Z"] = &Role{Name: "Z", ACLs: []ACL{{PublishClientSend, odd, 1, true}}}
	c.Clients["alice"] = &Client{Username: "alice", ClientID: "dev-1", TextName: strp("Alice"), TextDescription: strp(""),
		Disabled: true, Password: pw(1, 101),
		Roles: []RoleRef{{"r", NoPriority}, {odd, 0}, {"Z", 12}}}
	c.Clients[odd] = &Client{Username: odd, Password: pw(3, 1), Roles: []RoleRef{{"Z", -5}}}
	c.Clients["nopw"] = &Client{Username: "nopw", TextName: strp("")}
	c.Groups["g"] = &Group{Name: "g", TextName: strp("G"), TextDescription: strp(""),
		Roles:   []RoleRef{{"r", 4}, {"Z", NoPriority}, {odd, 0}},
		Members: []Member{{"nopw", 0}, {"alice", NoPriority}, {odd, 9}}}
	c.Groups["empty"] = &Group{Name: "empty"}
	c.Groups[odd] = &Group{Name: odd, Members: []Member{{"alice", -3}}}
	c.AnonymousGroup = odd
	return c
}

// normalised returns c as Load would hold it: lists in Mosquitto's order,
// empty lists nil.
func normalised(c *Config) *Config {
	n := c.Clone()
	for _, cl := range n.Clients {
		cl.Roles = nilIfEmpty(SortedRefs(cl.Roles))
	}
	for _, g := range n.Groups {
		g.Roles = nilIfEmpty(SortedRefs(g.Roles))
		slices.SortStableFunc(g.Members, func(a, b Member) int { return strings.Compare(a.Username, b.Username) })
		g.Members = nilIfEmpty(g.Members)
	}
	for _, r := range n.Roles {
		r.ACLs = nilIfEmpty(SortedACLs(r.ACLs))
	}
	return n
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestFileMarshalRoundTrip(t *testing.T) {
	for name, c := range map[string]*Config{"full": fullConfig(), "fixture": loadFixture(t), "empty": NewConfig(DefaultAccess{})} {
		t.Run(name, func(t *testing.T) {
			data := c.MarshalFile()
			got, problems, err := Load(data)
			if err != nil {
				t.Fatalf("Load(MarshalFile()): %v", err)
			}
			for _, p := range problems {
				t.Errorf("problem: %s", p)
			}
			if !reflect.DeepEqual(normalised(got), normalised(c)) {
				t.Errorf("Load(MarshalFile(c)) differs from c:\n got %s\nwant %s", got.MarshalFile(), data)
			}
			if again := got.MarshalFile(); !bytes.Equal(again, data) {
				t.Errorf("MarshalFile is not stable across Load:\n%s\nthen\n%s", data, again)
			}
		})
	}
}
