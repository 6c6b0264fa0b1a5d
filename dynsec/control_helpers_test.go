package dynsec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// ctrlZeroRand is a salt source for tests: endless zero bytes, so hashes
// are reproducible.
type ctrlZeroRand struct{}

func (ctrlZeroRand) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ctrlLoadFixture loads the configuration the transcript ran against.
func ctrlLoadFixture(t testing.TB) *Config {
	t.Helper()
	cfg, problems, err := Load([]byte(ctrlFixtureConfig))
	if err != nil {
		t.Fatalf("Load(fixture): %v", err)
	}
	if len(problems) > 0 {
		t.Fatalf("Load(fixture) problems: %v", problems)
	}
	return cfg
}

// ctrlStr returns a pointer to s, for text fields.
func ctrlStr(s string) *string { return &s }

// ctrlTestConfig is a small configuration built without Load:
//
//	roles   r1 (publishClientSend a/# allow 5, subscribeLiteral s/1 allow 0), r2, r3
//	clients u1 (clientid cid1, textname T, password "pw", role r1 priority 5),
//	        u2 (no password), u3 (disabled, role r2)
//	groups  g1 (role r1 priority 1; members u1 priority 3, u2),
//	        g2 (role r2), anon (role r3; member u3; the anonymous group)
func ctrlTestConfig(t testing.TB) *Config {
	t.Helper()
	pw, err := HashPassword("pw", ctrlZeroRand{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(MosquittoDefaultAccess)
	cfg.Roles["r1"] = &Role{Name: "r1", ACLs: []ACL{
		{Type: PublishClientSend, Topic: "a/#", Priority: 5, Allow: true},
		{Type: SubscribeLiteral, Topic: "s/1", Priority: 0, Allow: true},
	}}
	cfg.Roles["r2"] = &Role{Name: "r2", TextName: ctrlStr("R2")}
	cfg.Roles["r3"] = &Role{Name: "r3"}
	cfg.Clients["u1"] = &Client{Username: "u1", ClientID: "cid1", TextName: ctrlStr("T"), Password: pw,
		Roles: []RoleRef{{Name: "r1", Priority: 5}}}
	cfg.Clients["u2"] = &Client{Username: "u2"}
	cfg.Clients["u3"] = &Client{Username: "u3", Disabled: true, Roles: []RoleRef{{Name: "r2", Priority: NoPriority}}}
	cfg.Groups["g1"] = &Group{Name: "g1", Roles: []RoleRef{{Name: "r1", Priority: 1}},
		Members: []Member{{Username: "u1", Priority: 3}, {Username: "u2", Priority: NoPriority}}}
	cfg.Groups["g2"] = &Group{Name: "g2", Roles: []RoleRef{{Name: "r2", Priority: NoPriority}}}
	cfg.Groups["anon"] = &Group{Name: "anon", Roles: []RoleRef{{Name: "r3", Priority: NoPriority}},
		Members: []Member{{Username: "u3", Priority: NoPriority}}}
	cfg.AnonymousGroup = "anon"
	return cfg
}

// ctrlHandle runs payload against cfg and checks what holds for every
// request: cfg is left exactly as it was, the response is one compact
// JSON object, and an unchanged result hands back cfg itself with no
// kicks.
func ctrlHandle(t testing.TB, c *Controller, cfg *Config, payload string) Result {
	t.Helper()
	var before *Config
	if cfg != nil {
		before = cfg.Clone()
	}
	res := c.Handle(cfg, []byte(payload))
	if cfg != nil && !reflect.DeepEqual(before, cfg) {
		t.Fatalf("Handle(%s) modified its input Config", payload)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, res.Response); err != nil {
		t.Fatalf("Handle(%s): response is not JSON: %v\n%s", payload, err, res.Response)
	}
	if !bytes.Equal(compact.Bytes(), res.Response) {
		t.Fatalf("Handle(%s): response is not compact: %s", payload, res.Response)
	}
	if !res.Changed && (res.Config != cfg || !reflect.DeepEqual(res.Kicks, Kicks{})) {
		t.Fatalf("Handle(%s): unchanged, but Config %p (input %p), Kicks %+v", payload, res.Config, cfg, res.Kicks)
	}
	return res
}

// ctrlMust runs commands (a comma-separated list of command objects)
// that must all succeed, and returns the resulting configuration.
func ctrlMust(t testing.TB, cfg *Config, commands string) *Config {
	t.Helper()
	res := ctrlHandle(t, &Controller{Rand: ctrlZeroRand{}}, cfg, `{"commands":[`+commands+`]}`)
	if bytes.Contains(res.Response, []byte(`"error"`)) {
		t.Fatalf("setup %s failed: %s", commands, res.Response)
	}
	return res.Config
}

// ctrlCase is one command run against a configuration: the response
// object it must give, whether it changes the configuration, and whom
// it must kick.
type ctrlCase struct {
	name    string
	setup   string // commands run first (see ctrlMust); "" for none
	cmd     string // one command object
	want    string // the response object, compact
	changed bool
	kicks   Kicks
	check   func(t *testing.T, cfg *Config) // looks at the configuration after cmd; optional
}

// ctrlRunCases runs each case against a fresh ctrlTestConfig. A refused
// command must change nothing (deliberate difference (a)).
func ctrlRunCases(t *testing.T, cases []ctrlCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ctrlTestConfig(t)
			if tc.setup != "" {
				cfg = ctrlMust(t, cfg, tc.setup)
			}
			res := ctrlHandle(t, &Controller{Rand: ctrlZeroRand{}}, cfg, `{"commands":[`+tc.cmd+`]}`)
			if got, want := string(res.Response), `{"responses":[`+tc.want+`]}`; got != want {
				t.Errorf("response\n got %s\nwant %s", got, want)
			}
			if res.Changed != tc.changed {
				t.Errorf("Changed = %v, want %v", res.Changed, tc.changed)
			}
			if strings.Contains(tc.want, `"error"`) && res.Changed {
				t.Errorf("a refused command changed the configuration")
			}
			if !reflect.DeepEqual(res.Kicks, tc.kicks) {
				t.Errorf("Kicks = %+v, want %+v", res.Kicks, tc.kicks)
			}
			if tc.check != nil {
				tc.check(t, res.Config)
			}
		})
	}
}

// ctrlErr and ctrlOK build expected response objects.
func ctrlErr(command, msg string) string {
	return `{"command":"` + command + `","error":"` + msg + `"}`
}

func ctrlOK(command string) string { return `{"command":"` + command + `"}` }

// ctrlKickUsers is a Kicks of usernames only.
func ctrlKickUsers(users ...string) Kicks { return Kicks{Usernames: users} }

// ctrlGet runs one read command against cfg and returns its response
// object, for checks on the state a command left.
func ctrlGet(t *testing.T, cfg *Config, cmd string) string {
	t.Helper()
	res := ctrlHandle(t, &Controller{}, cfg, `{"commands":[`+cmd+`]}`)
	out := strings.TrimPrefix(string(res.Response), `{"responses":[`)
	return strings.TrimSuffix(out, `]}`)
}
