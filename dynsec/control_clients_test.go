package dynsec

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

// The client objects of ctrlTestConfig as getClient shows them.
const (
	ctrlU1 = `{"username":"u1","clientid":"cid1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[{"groupname":"g1","priority":3}]}`
	ctrlU2 = `{"username":"u2","roles":[],"groups":[{"groupname":"g1"}]}`
	ctrlU3 = `{"username":"u3","disabled":true,"roles":[{"rolename":"r2"}],"groups":[{"groupname":"anon"}]}`
)

// ctrlWantClient checks getClient's client object for username.
func ctrlWantClient(username, want string) func(*testing.T, *Config) {
	return func(t *testing.T, cfg *Config) {
		t.Helper()
		got := ctrlGet(t, cfg, `{"command":"getClient","username":"`+username+`"}`)
		if want := `{"command":"getClient","data":{"client":` + want + `}}`; got != want {
			t.Errorf("getClient %s\n got %s\nwant %s", username, got, want)
		}
	}
}

func ctrlWantPassword(username, password string) func(*testing.T, *Config) {
	return func(t *testing.T, cfg *Config) {
		t.Helper()
		if c := cfg.Clients[username]; c == nil || !c.Password.Verify(password) {
			t.Errorf("%s's password is not %q", username, password)
		}
	}
}

func TestControlListClients(t *testing.T) {
	list := func(names string) string {
		return `{"command":"listClients","data":{"totalCount":3,"clients":[` + names + `]}}`
	}
	ctrlRunCases(t, []ctrlCase{
		{name: "all", cmd: `{"command":"listClients"}`, want: list(`"u1","u2","u3"`)},
		{name: "verbose", cmd: `{"command":"listClients","verbose":true}`, want: list(ctrlU1 + "," + ctrlU2 + "," + ctrlU3)},
		{name: "verbose must be a boolean", cmd: `{"command":"listClients","verbose":1}`, want: list(`"u1","u2","u3"`)},
		{name: "count 0 shows one", cmd: `{"command":"listClients","count":0}`, want: list(`"u1"`)},
		{name: "count 1 offset 1", cmd: `{"command":"listClients","count":1,"offset":1}`, want: list(`"u2"`)},
		{name: "count truncates", cmd: `{"command":"listClients","count":2.9}`, want: list(`"u1","u2"`)},
		{name: "negative count shows the rest", cmd: `{"command":"listClients","count":-5,"offset":1}`, want: list(`"u2","u3"`)},
		{name: "count as a string is ignored", cmd: `{"command":"listClients","count":"1"}`, want: list(`"u1","u2","u3"`)},
		{name: "negative offset counts as 0", cmd: `{"command":"listClients","count":2,"offset":-3}`, want: list(`"u1","u2"`)},
		{name: "offset past the end", cmd: `{"command":"listClients","offset":3}`, want: list(``)},
		{name: "verbose page", cmd: `{"command":"listClients","verbose":true,"count":1,"offset":2}`, want: list(ctrlU3)},
	})
}

func TestControlGetClient(t *testing.T) {
	ctrlRunCases(t, []ctrlCase{
		{name: "missing username", cmd: `{"command":"getClient"}`, want: ctrlErr("getClient", "Invalid/missing username")},
		{name: "username not a string", cmd: `{"command":"getClient","username":["u1"]}`, want: ctrlErr("getClient", "Invalid/missing username")},
		{name: "username not valid", cmd: `{"command":"getClient","username":"\u007f"}`, want: ctrlErr("getClient", "Username not valid UTF-8")},
		{name: "unknown", cmd: `{"command":"getClient","username":"nope"}`, want: ctrlErr("getClient", "Client not found")},
		{name: "names are case-sensitive", cmd: `{"command":"getClient","username":"U1"}`, want: ctrlErr("getClient", "Client not found")},
		{name: "u1", cmd: `{"command":"getClient","username":"u1"}`, want: `{"command":"getClient","data":{"client":` + ctrlU1 + `}}`},
		{name: "u3", cmd: `{"command":"getClient","username":"u3","correlationData":"x"}`,
			want: `{"command":"getClient","data":{"client":` + ctrlU3 + `},"correlationData":"x"}`},
	})
}

func TestControlCreateClient(t *testing.T) {
	const ok = `{"command":"createClient"}`
	err := func(msg string) string { return ctrlErr("createClient", msg) }
	ctrlRunCases(t, []ctrlCase{
		{name: "missing username", cmd: `{"command":"createClient"}`, want: err("Invalid/missing username")},
		{name: "username not a string", cmd: `{"command":"createClient","username":5}`, want: err("Invalid/missing username")},
		{name: "username not valid", cmd: `{"command":"createClient","username":"a\u0001","password":5}`, want: err("Username not valid UTF-8")},
		{name: "non-character username", cmd: `{"command":"createClient","username":"\ufdd0"}`, want: err("Username not valid UTF-8")},
		{name: "password not a string", cmd: `{"command":"createClient","username":"n","password":5,"clientid":5}`, want: err("Invalid/missing password")},
		{name: "clientid not a string", cmd: `{"command":"createClient","username":"n","clientid":null}`, want: err("Invalid/missing client id")},
		{name: "clientid not valid", cmd: `{"command":"createClient","username":"n","clientid":"\u0085","textname":5}`, want: err("Client ID not valid UTF-8")},
		{name: "textname not a string", cmd: `{"command":"createClient","username":"n","textname":5,"textdescription":5}`, want: err("Invalid/missing textname")},
		{name: "textdescription not a string", cmd: `{"command":"createClient","username":"n","textdescription":false}`, want: err("Invalid/missing textdescription")},
		{name: "exists", cmd: `{"command":"createClient","username":"u1","roles":"x"}`, want: err("Client already exists")},
		{name: "unknown role", cmd: `{"command":"createClient","username":"n","roles":[{"rolename":"nope"},{"x":1}]}`, want: err("Role not found")},
		{name: "roles not an array", cmd: `{"command":"createClient","username":"n","roles":{"rolename":"r1"}}`, want: err("'roles' not an array or missing/invalid rolename")},
		{name: "role element not an object", cmd: `{"command":"createClient","username":"n","roles":["r1"]}`, want: err("'roles' not an array or missing/invalid rolename")},
		{name: "bad role element before unknown role", cmd: `{"command":"createClient","username":"n","roles":[{"rolename":5},{"rolename":"nope"}]}`, want: err("'roles' not an array or missing/invalid rolename")},
		{name: "unknown group", cmd: `{"command":"createClient","username":"n","groups":[{"groupname":"g1"},{"groupname":"nope"}]}`, want: err("Group not found")},
		{name: "group listed twice", cmd: `{"command":"createClient","username":"n","groups":[{"groupname":"g1"},{"groupname":"g1"}]}`, want: err("Internal error")},
		{name: "everything", changed: true,
			cmd: `{"command":"createClient","username":"n1","password":"secret","clientid":"c","textname":"","textdescription":"D",` +
				`"roles":[{"rolename":"r2","priority":2},{"rolename":"r1"},{"rolename":"r2","priority":9}],` +
				`"groups":[{"groupname":"g2","priority":4},7,{"groupname":5},{"groupname":"g1"}]}`,
			want: ok,
			check: func(t *testing.T, cfg *Config) {
				ctrlWantClient("n1", `{"username":"n1","clientid":"c","textname":"","textdescription":"D",`+
					`"roles":[{"rolename":"r2","priority":2},{"rolename":"r1"}],"groups":[{"groupname":"g2","priority":4},{"groupname":"g1"}]}`)(t, cfg)
				ctrlWantPassword("n1", "secret")(t, cfg)
				if got := ctrlGet(t, cfg, `{"command":"getGroup","groupname":"g1"}`); !bytes.Contains([]byte(got), []byte(`{"username":"n1"}`)) {
					t.Errorf("n1 is not listed in g1: %s", got)
				}
			}},
		{name: "minimal", changed: true, cmd: `{"command":"createClient","username":"n1"}`, want: ok,
			check: func(t *testing.T, cfg *Config) {
				ctrlWantClient("n1", `{"username":"n1","roles":[],"groups":[]}`)(t, cfg)
				if cfg.Clients["n1"].Password != nil {
					t.Errorf("a client created without a password has one")
				}
			}},
		{name: "empty password is a password", changed: true, cmd: `{"command":"createClient","username":"n1","password":""}`, want: ok,
			check: ctrlWantPassword("n1", "")},
		{name: "empty clientid is none", changed: true, cmd: `{"command":"createClient","username":"n1","clientid":""}`, want: ok,
			check: ctrlWantClient("n1", `{"username":"n1","roles":[],"groups":[]}`)},
		{name: "NUL cuts the name", changed: true, cmd: `{"command":"createClient","username":"n\u0000x"}`, want: ok,
			check: ctrlWantClient("n", `{"username":"n","roles":[],"groups":[]}`)},
		{name: "empty username", changed: true, cmd: `{"command":"createClient","username":"","textname":"e"}`, want: ok,
			check: ctrlWantClient("", `{"username":"","textname":"e","roles":[],"groups":[]}`)},
		{name: "case-insensitive keys", changed: true, cmd: `{"COMMAND":"CREATECLIENT","UserName":"n1","PASSWORD":"p"}`, want: ok,
			check: ctrlWantPassword("n1", "p")},
	})
}

func TestControlCreateClientInternalError(t *testing.T) {
	errNoEntropy := errors.New("no entropy")
	c := &Controller{Rand: iotest.ErrReader(errNoEntropy)}
	for _, cmd := range []string{
		`{"command":"createClient","username":"n1","password":"p"}`,
		`{"command":"setClientPassword","username":"u1","password":"p"}`,
		`{"command":"modifyClient","username":"u1","password":"p"}`,
	} {
		res := ctrlHandle(t, c, ctrlTestConfig(t), `{"commands":[`+cmd+`]}`)
		if !bytes.Contains(res.Response, []byte(`"error":"Internal error"`)) || res.Changed {
			t.Errorf("%s with a failing salt source: %s (changed %v)", cmd, res.Response, res.Changed)
		}
		if !errors.Is(res.Err, errNoEntropy) {
			t.Errorf("%s: Err = %v, want it to wrap the salt source's error", cmd, res.Err)
		}
	}
}

func TestControlDeleteClient(t *testing.T) {
	ctrlRunCases(t, []ctrlCase{
		{name: "missing username", cmd: `{"command":"deleteClient"}`, want: ctrlErr("deleteClient", "Invalid/missing username")},
		{name: "no UTF-8 check", cmd: `{"command":"deleteClient","username":"\u0001"}`, want: ctrlErr("deleteClient", "Client not found")},
		{name: "unknown", cmd: `{"command":"deleteClient","username":"nope"}`, want: ctrlErr("deleteClient", "Client not found")},
		{name: "delete", cmd: `{"command":"deleteClient","username":"u1"}`, want: ctrlOK("deleteClient"),
			changed: true, kicks: ctrlKickUsers("u1"),
			check: func(t *testing.T, cfg *Config) {
				if cfg.Clients["u1"] != nil || len(cfg.ClientGroups("u1")) != 0 {
					t.Errorf("u1 is still there or still a member")
				}
				if got := ctrlGet(t, cfg, `{"command":"getGroup","groupname":"g1"}`); got != `{"command":"getGroup","data":{"group":{"groupname":"g1","clients":[{"username":"u2"}],"roles":[{"rolename":"r1","priority":1}]}}}` {
					t.Errorf("getGroup g1 = %s", got)
				}
			}},
	})
}

func TestControlModifyClient(t *testing.T) {
	err := func(msg string) string { return ctrlErr("modifyClient", msg) }
	ok := ctrlOK("modifyClient")
	ctrlRunCases(t, []ctrlCase{
		{name: "missing username", cmd: `{"command":"modifyClient"}`, want: err("Invalid/missing username")},
		{name: "username not valid", cmd: `{"command":"modifyClient","username":"\ud800\udc00\uffff"}`, want: err("Username not valid UTF-8")},
		{name: "unknown", cmd: `{"command":"modifyClient","username":"nope","roles":5}`, want: err("Client not found")},
		{name: "unknown role", cmd: `{"command":"modifyClient","username":"u1","roles":[{"rolename":"nope"}]}`, want: err("Role not found")},
		{name: "roles not an array", cmd: `{"command":"modifyClient","username":"u1","roles":"r1"}`, want: err("'roles' not an array or missing/invalid rolename")},
		// Deliberate difference (a): Mosquitto keeps the textname (and
		// kicks u1) although it answers an error.
		{name: "an error changes nothing", cmd: `{"command":"modifyClient","username":"u1","textname":"BEFORE-ERR","clientid":"x","roles":[{"rolename":"nope"}]}`,
			want: err("Role not found"), check: ctrlWantClient("u1", ctrlU1)},
		{name: "everything", changed: true, kicks: ctrlKickUsers("u2"),
			cmd:  `{"command":"modifyClient","username":"u2","clientid":"x","password":"newpw","textname":"N","textdescription":"","roles":[{"rolename":"r2"},{"rolename":"r3","priority":1}],"groups":[{"groupname":"g2","priority":1},{"groupname":"nope"},{"groupname":"g2"},{"groupname":"anon"}]}`,
			want: ok,
			check: func(t *testing.T, cfg *Config) {
				ctrlWantClient("u2", `{"username":"u2","clientid":"x","textname":"N","textdescription":"","roles":[{"rolename":"r3","priority":1},{"rolename":"r2"}],"groups":[{"groupname":"g2","priority":1},{"groupname":"anon"}]}`)(t, cfg)
				ctrlWantPassword("u2", "newpw")(t, cfg)
			}},
		{name: "wrong types are ignored", cmd: `{"command":"modifyClient","username":"u1","clientid":5,"password":5,"textname":5,"textdescription":null,"groups":{"groupname":"g2"}}`,
			want: ok, check: ctrlWantClient("u1", ctrlU1)},
		{name: "empty password is ignored", cmd: `{"command":"modifyClient","username":"u1","password":""}`,
			want: ok, check: ctrlWantPassword("u1", "pw")},
		{name: "the values it already has", cmd: `{"command":"modifyClient","username":"u1","clientid":"cid1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[{"groupname":"g1","priority":3}]}`,
			want: ok},
		{name: "empty clientid clears", changed: true, kicks: ctrlKickUsers("u1"), cmd: `{"command":"modifyClient","username":"u1","clientid":""}`,
			want: ok, check: ctrlWantClient("u1", `{"username":"u1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[{"groupname":"g1","priority":3}]}`)},
		{name: "empty lists clear", changed: true, kicks: ctrlKickUsers("u1"), cmd: `{"command":"modifyClient","username":"u1","roles":[],"groups":[]}`,
			want: ok, check: ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[],"groups":[]}`)},
		{name: "group priority changes", changed: true, kicks: ctrlKickUsers("u1"), cmd: `{"command":"modifyClient","username":"u1","groups":[{"groupname":"g1"}]}`,
			want: ok, check: ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[{"groupname":"g1"}]}`)},
		{name: "password", changed: true, kicks: ctrlKickUsers("u1"), cmd: `{"command":"modifyClient","username":"u1","password":"x"}`,
			want: ok, check: ctrlWantPassword("u1", "x")},
	})
}

func TestControlSetClientPassword(t *testing.T) {
	err := func(msg string) string { return ctrlErr("setClientPassword", msg) }
	ctrlRunCases(t, []ctrlCase{
		{name: "missing username", cmd: `{"command":"setClientPassword","password":"x"}`, want: err("Invalid/missing username")},
		{name: "username not valid", cmd: `{"command":"setClientPassword","username":"\u0009","password":"x"}`, want: err("Username not valid UTF-8")},
		{name: "missing password", cmd: `{"command":"setClientPassword","username":"u1"}`, want: err("Invalid/missing password")},
		{name: "password not a string", cmd: `{"command":"setClientPassword","username":"u1","password":1}`, want: err("Invalid/missing password")},
		{name: "empty password", cmd: `{"command":"setClientPassword","username":"nope","password":""}`, want: err("Empty password is not allowed")},
		{name: "unknown", cmd: `{"command":"setClientPassword","username":"nope","password":"x"}`, want: err("Client not found")},
		{name: "set", cmd: `{"command":"setClientPassword","username":"u2","password":"hunter2"}`, want: ctrlOK("setClientPassword"),
			changed: true, kicks: ctrlKickUsers("u2"),
			check: func(t *testing.T, cfg *Config) {
				ctrlWantPassword("u2", "hunter2")(t, cfg)
				if p := cfg.Clients["u2"].Password; p.Iterations != DefaultIterations || len(p.Salt) != SaltBytes {
					t.Errorf("password %+v", p)
				}
			}},
	})
}

func TestControlSetClientID(t *testing.T) {
	err := func(msg string) string { return ctrlErr("setClientId", msg) }
	ok := ctrlOK("setClientId")
	ctrlRunCases(t, []ctrlCase{
		{name: "missing username", cmd: `{"command":"setClientId","clientid":"x"}`, want: err("Invalid/missing username")},
		{name: "username not valid", cmd: `{"command":"setClientId","username":"\u009f"}`, want: err("Username not valid UTF-8")},
		{name: "clientid not a string", cmd: `{"command":"setClientId","username":"nope","clientid":5}`, want: err("Invalid/missing client ID")},
		{name: "clientid not valid", cmd: `{"command":"setClientId","username":"nope","clientid":"\u0001"}`, want: err("Client ID not valid UTF-8")},
		{name: "unknown", cmd: `{"command":"setClientId","username":"nope","clientid":"x"}`, want: err("Client not found")},
		{name: "set", cmd: `{"command":"setClientId","username":"u2","clientid":"dev-2"}`, want: ok, changed: true, kicks: ctrlKickUsers("u2"),
			check: ctrlWantClient("u2", `{"username":"u2","clientid":"dev-2","roles":[],"groups":[{"groupname":"g1"}]}`)},
		{name: "missing clientid clears", cmd: `{"command":"setClientId","username":"u1"}`, want: ok, changed: true, kicks: ctrlKickUsers("u1"),
			check: ctrlWantClient("u1", `{"username":"u1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[{"groupname":"g1","priority":3}]}`)},
		{name: "empty clientid clears", cmd: `{"command":"setClientId","username":"u1","clientid":""}`, want: ok, changed: true, kicks: ctrlKickUsers("u1")},
		{name: "the same clientid", cmd: `{"command":"setClientId","username":"u1","clientid":"cid1"}`, want: ok},
	})
}

func TestControlEnableDisableClient(t *testing.T) {
	var cases []ctrlCase
	for _, cmd := range []string{"enableClient", "disableClient"} {
		cases = append(cases,
			ctrlCase{name: cmd + " missing username", cmd: `{"command":"` + cmd + `"}`, want: ctrlErr(cmd, "Invalid/missing username")},
			ctrlCase{name: cmd + " username not valid", cmd: `{"command":"` + cmd + `","username":"\ufffe"}`, want: ctrlErr(cmd, "Username not valid UTF-8")},
			ctrlCase{name: cmd + " unknown", cmd: `{"command":"` + cmd + `","username":"nope"}`, want: ctrlErr(cmd, "Client not found")})
	}
	cases = append(cases,
		ctrlCase{name: "disable", cmd: `{"command":"disableClient","username":"u1"}`, want: ctrlOK("disableClient"),
			changed: true, kicks: ctrlKickUsers("u1"),
			check: func(t *testing.T, cfg *Config) {
				if !cfg.Clients["u1"].Disabled {
					t.Errorf("u1 is not disabled")
				}
			}},
		ctrlCase{name: "disable a disabled client", cmd: `{"command":"disableClient","username":"u3"}`, want: ctrlOK("disableClient")},
		ctrlCase{name: "enable kicks nobody", cmd: `{"command":"enableClient","username":"u3"}`, want: ctrlOK("enableClient"), changed: true,
			check: ctrlWantClient("u3", `{"username":"u3","roles":[{"rolename":"r2"}],"groups":[{"groupname":"anon"}]}`)},
		ctrlCase{name: "enable an enabled client", cmd: `{"command":"enableClient","username":"u1"}`, want: ctrlOK("enableClient")},
		ctrlCase{name: "command name in any case", cmd: `{"command":"DisableClient","username":"u2"}`, want: ctrlOK("disableClient"),
			changed: true, kicks: ctrlKickUsers("u2")},
	)
	ctrlRunCases(t, cases)
}

func TestControlClientRoles(t *testing.T) {
	var cases []ctrlCase
	for _, cmd := range []string{"addClientRole", "removeClientRole"} {
		err := func(msg string) string { return ctrlErr(cmd, msg) }
		cases = append(cases,
			ctrlCase{name: cmd + " missing username", cmd: `{"command":"` + cmd + `","rolename":"r1"}`, want: err("Invalid/missing username")},
			ctrlCase{name: cmd + " NUL makes an empty username", cmd: `{"command":"` + cmd + `","username":"\u0000"}`, want: ctrlErr(cmd, "Invalid/missing rolename")},
			ctrlCase{name: cmd + " username control", cmd: `{"command":"` + cmd + `","username":"\u001f"}`, want: err("Username not valid UTF-8")},
			ctrlCase{name: cmd + " missing rolename", cmd: `{"command":"` + cmd + `","username":"nope"}`, want: err("Invalid/missing rolename")},
			ctrlCase{name: cmd + " rolename not valid", cmd: `{"command":"` + cmd + `","username":"nope","rolename":"\u0080"}`, want: err("Role name not valid UTF-8")},
			ctrlCase{name: cmd + " unknown client first", cmd: `{"command":"` + cmd + `","username":"nope","rolename":"nope"}`, want: err("Client not found")},
			ctrlCase{name: cmd + " unknown role", cmd: `{"command":"` + cmd + `","username":"u1","rolename":"nope"}`, want: err("Role not found")})
	}
	cases = append(cases,
		ctrlCase{name: "add", cmd: `{"command":"addClientRole","username":"u1","rolename":"r2","priority":7}`, want: ctrlOK("addClientRole"),
			changed: true, kicks: ctrlKickUsers("u1"),
			check: ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[{"rolename":"r2","priority":7},{"rolename":"r1","priority":5}],"groups":[{"groupname":"g1","priority":3}]}`)},
		ctrlCase{name: "add with -1.5 priority is no priority", cmd: `{"command":"addClientRole","username":"u2","rolename":"r2","priority":-1.5}`,
			want: ctrlOK("addClientRole"), changed: true, kicks: ctrlKickUsers("u2"),
			check: ctrlWantClient("u2", `{"username":"u2","roles":[{"rolename":"r2"}],"groups":[{"groupname":"g1"}]}`)},
		ctrlCase{name: "add a role it has", cmd: `{"command":"addClientRole","username":"u1","rolename":"r1","priority":1}`,
			want: ctrlErr("addClientRole", "Internal error"), check: ctrlWantClient("u1", ctrlU1)},
		ctrlCase{name: "remove", cmd: `{"command":"removeClientRole","username":"u1","rolename":"r1"}`, want: ctrlOK("removeClientRole"),
			changed: true, kicks: ctrlKickUsers("u1"),
			check: ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[],"groups":[{"groupname":"g1","priority":3}]}`)},
		ctrlCase{name: "remove a role it lacks", cmd: `{"command":"removeClientRole","username":"u2","rolename":"r1"}`, want: ctrlOK("removeClientRole")},
	)
	ctrlRunCases(t, cases)
}
