package dynsec

import (
	"strings"
	"testing"
)

// The role objects of ctrlTestConfig as getRole shows them.
const (
	ctrlR1 = `{"rolename":"r1","acls":[{"acltype":"publishClientSend","topic":"a/#","priority":5,"allow":true},{"acltype":"subscribeLiteral","topic":"s/1","priority":0,"allow":true}]}`
	ctrlR2 = `{"rolename":"r2","textname":"R2","acls":[]}`
	ctrlR3 = `{"rolename":"r3","acls":[]}`
)

func ctrlWantRole(name, want string) func(*testing.T, *Config) {
	return func(t *testing.T, cfg *Config) {
		t.Helper()
		got := ctrlGet(t, cfg, `{"command":"getRole","rolename":"`+name+`"}`)
		if want := `{"command":"getRole","data":{"role":` + want + `}}`; got != want {
			t.Errorf("getRole %s\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestControlListGetRoles(t *testing.T) {
	list := func(roles string) string {
		return `{"command":"listRoles","data":{"totalCount":3,"roles":[` + roles + `]}}`
	}
	ctrlRunCases(t, []ctrlCase{
		{name: "list", cmd: `{"command":"listRoles"}`, want: list(`"r1","r2","r3"`)},
		{name: "list verbose", cmd: `{"command":"listRoles","verbose":true}`, want: list(ctrlR1 + "," + ctrlR2 + "," + ctrlR3)},
		{name: "list page", cmd: `{"command":"listRoles","count":2,"offset":1,"verbose":false}`, want: list(`"r2","r3"`)},
		{name: "get missing rolename", cmd: `{"command":"getRole"}`, want: ctrlErr("getRole", "Invalid/missing rolename")},
		{name: "get rolename not valid", cmd: `{"command":"getRole","rolename":"\u0006"}`, want: ctrlErr("getRole", "Role name not valid UTF-8")},
		{name: "get unknown", cmd: `{"command":"getRole","rolename":"nope"}`, want: ctrlErr("getRole", "Role not found")},
		{name: "get", cmd: `{"command":"getRole","rolename":"r1"}`, want: `{"command":"getRole","data":{"role":` + ctrlR1 + `}}`},
	})
}

func TestControlCreateRole(t *testing.T) {
	err := func(msg string) string { return ctrlErr("createRole", msg) }
	ctrlRunCases(t, []ctrlCase{
		{name: "missing rolename", cmd: `{"command":"createRole"}`, want: err("Invalid/missing rolename")},
		{name: "rolename not valid", cmd: `{"command":"createRole","rolename":"\u0007"}`, want: err("Role name not valid UTF-8")},
		{name: "textname not a string", cmd: `{"command":"createRole","rolename":"n","textname":true}`, want: err("Invalid/missing textname")},
		{name: "textdescription not a string", cmd: `{"command":"createRole","rolename":"n","textdescription":{}}`, want: err("Invalid/missing textdescription")},
		{name: "exists", cmd: `{"command":"createRole","rolename":"r1"}`, want: err("Role already exists")},
		{name: "plain", cmd: `{"command":"createRole","rolename":"n"}`, want: ctrlOK("createRole"), changed: true,
			check: ctrlWantRole("n", `{"rolename":"n","acls":[]}`)},
		// ACLs are not validated: invalid filters and duplicates are kept,
		// unusable entries dropped.
		{name: "acls", changed: true,
			cmd: `{"command":"createRole","rolename":"n","textname":"N","textdescription":"D","acls":[` +
				`{"acltype":"unsubscribeLiteral","topic":"u","allow":"yes","priority":"3"},` +
				`{"acltype":"PUBLISHCLIENTSEND","topic":"bad/#/x","priority":9,"allow":true},` +
				`{"acltype":"publishClientSend","topic":"bad/#/x"},` +
				`{"acltype":"publishClientSend","topic":"later","priority":9},` +
				`{"acltype":"subscribe","topic":"x"},{"acltype":"subscribePattern"},{"acltype":"subscribePattern","topic":5},5,null]}`,
			want: ctrlOK("createRole"),
			check: ctrlWantRole("n", `{"rolename":"n","textname":"N","textdescription":"D","acls":[`+
				`{"acltype":"publishClientSend","topic":"bad/#/x","priority":9,"allow":true},`+
				`{"acltype":"publishClientSend","topic":"later","priority":9,"allow":false},`+
				`{"acltype":"publishClientSend","topic":"bad/#/x","priority":0,"allow":false},`+
				`{"acltype":"unsubscribeLiteral","topic":"u","priority":0,"allow":false}]}`)},
	})
}

func TestControlDeleteRole(t *testing.T) {
	err := func(msg string) string { return ctrlErr("deleteRole", msg) }
	ctrlRunCases(t, []ctrlCase{
		{name: "missing rolename", cmd: `{"command":"deleteRole"}`, want: err("Invalid/missing rolename")},
		{name: "rolename not valid", cmd: `{"command":"deleteRole","rolename":"\u0008"}`, want: err("Role name not valid UTF-8")},
		{name: "unknown", cmd: `{"command":"deleteRole","rolename":"nope"}`, want: err("Role not found")},
		{name: "held by a client and a group", cmd: `{"command":"deleteRole","rolename":"r1"}`, want: ctrlOK("deleteRole"),
			changed: true, kicks: ctrlKickUsers("u1", "u2"),
			check: func(t *testing.T, cfg *Config) {
				ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[],"groups":[{"groupname":"g1","priority":3}]}`)(t, cfg)
				ctrlWantGroup("g1", `{"groupname":"g1","clients":[{"username":"u1"},{"username":"u2"}],"roles":[]}`)(t, cfg)
			}},
		{name: "held by the anonymous group", cmd: `{"command":"deleteRole","rolename":"r3"}`, want: ctrlOK("deleteRole"),
			changed: true, kicks: Kicks{Usernames: []string{"u3"}, Anonymous: true},
			check: ctrlWantGroup("anon", `{"groupname":"anon","clients":[{"username":"u3"}],"roles":[]}`)},
		{name: "held by nobody", setup: `{"command":"createRole","rolename":"n"}`,
			cmd: `{"command":"deleteRole","rolename":"n"}`, want: ctrlOK("deleteRole"), changed: true},
		// Deliberate difference (c): Mosquitto 2.0.11 records no
		// back-reference for roles given to createClient/createGroup/
		// modifyGroup, so it kicks neither n1 nor g2's members and leaves
		// them a dangling role.
		{name: "links made by create and modify commands",
			setup: `{"command":"createClient","username":"n1","roles":[{"rolename":"r3"}]},` +
				`{"command":"createGroup","groupname":"ng","roles":[{"rolename":"r3"}]},{"command":"addGroupClient","groupname":"ng","username":"u2"},` +
				`{"command":"modifyGroup","groupname":"g2","roles":[{"rolename":"r3"}],"clients":[{"username":"u1"}]}`,
			cmd: `{"command":"deleteRole","rolename":"r3"}`, want: ctrlOK("deleteRole"),
			changed: true, kicks: Kicks{Usernames: []string{"n1", "u1", "u2", "u3"}, Anonymous: true},
			check: func(t *testing.T, cfg *Config) {
				ctrlWantClient("n1", `{"username":"n1","roles":[],"groups":[]}`)(t, cfg)
				ctrlWantGroup("ng", `{"groupname":"ng","clients":[{"username":"u2"}],"roles":[]}`)(t, cfg)
				ctrlWantGroup("g2", `{"groupname":"g2","clients":[{"username":"u1"}],"roles":[]}`)(t, cfg)
			}},
	})
}

func TestControlModifyRole(t *testing.T) {
	err := func(msg string) string { return ctrlErr("modifyRole", msg) }
	ok := ctrlOK("modifyRole")
	ctrlRunCases(t, []ctrlCase{
		{name: "missing rolename", cmd: `{"command":"modifyRole"}`, want: err("Invalid/missing rolename")},
		{name: "rolename not valid", cmd: `{"command":"modifyRole","rolename":"\u000b"}`, want: err("Role name not valid UTF-8")},
		{name: "unknown", cmd: `{"command":"modifyRole","rolename":"nope"}`, want: err("Role does not exist")},
		// modifyRole kicks nobody, as in Mosquitto 2.0.11 (spec 3.1).
		{name: "replace acls", changed: true,
			cmd:   `{"command":"modifyRole","rolename":"r1","textname":"","acls":[{"acltype":"subscribePattern","topic":"p/+","allow":true}]}`,
			want:  ok,
			check: ctrlWantRole("r1", `{"rolename":"r1","textname":"","acls":[{"acltype":"subscribePattern","topic":"p/+","priority":0,"allow":true}]}`)},
		{name: "clear acls", changed: true, cmd: `{"command":"modifyRole","rolename":"r1","acls":[]}`, want: ok,
			check: ctrlWantRole("r1", `{"rolename":"r1","acls":[]}`)},
		{name: "wrong types are ignored", cmd: `{"command":"modifyRole","rolename":"r2","textname":1,"textdescription":null,"acls":{}}`, want: ok,
			check: ctrlWantRole("r2", ctrlR2)},
		{name: "the values it already has", cmd: `{"command":"modifyRole","rolename":"r2","textname":"R2","acls":[]}`, want: ok},
	})
}

func TestControlRoleACLs(t *testing.T) {
	var cases []ctrlCase
	for _, cmd := range []string{"addRoleACL", "removeRoleACL"} {
		err := func(msg string) string { return ctrlErr(cmd, msg) }
		cases = append(cases,
			ctrlCase{name: cmd + " missing rolename", cmd: `{"command":"` + cmd + `","acltype":5}`, want: err("Invalid/missing rolename")},
			ctrlCase{name: cmd + " rolename not valid", cmd: `{"command":"` + cmd + `","rolename":"\u000c"}`, want: err("Role name not valid UTF-8")},
			ctrlCase{name: cmd + " unknown role", cmd: `{"command":"` + cmd + `","rolename":"nope","acltype":5}`, want: err("Role not found")},
			ctrlCase{name: cmd + " missing acltype", cmd: `{"command":"` + cmd + `","rolename":"r1","topic":5}`, want: err("Invalid/missing acltype")},
			ctrlCase{name: cmd + " default-access acltype", cmd: `{"command":"` + cmd + `","rolename":"r1","acltype":"subscribe","topic":5}`, want: err("Unknown acltype")},
			ctrlCase{name: cmd + " missing topic", cmd: `{"command":"` + cmd + `","rolename":"r1","acltype":"publishClientSend"}`, want: err("Invalid/missing topic")},
			ctrlCase{name: cmd + " topic not valid", cmd: `{"command":"` + cmd + `","rolename":"r1","acltype":"publishClientSend","topic":"a/\u0001"}`, want: err("Topic not valid UTF-8")},
			ctrlCase{name: cmd + " '#' not last", cmd: `{"command":"` + cmd + `","rolename":"r1","acltype":"publishClientSend","topic":"a/#/b"}`, want: err("Invalid ACL topic")},
			ctrlCase{name: cmd + " '+' inside a level", cmd: `{"command":"` + cmd + `","rolename":"r1","acltype":"publishClientSend","topic":"a/b+"}`, want: err("Invalid ACL topic")})
	}
	cases = append(cases,
		ctrlCase{name: "add a topic it has", cmd: `{"command":"addRoleACL","rolename":"r1","acltype":"PublishClientSend","topic":"a/#","priority":1,"allow":false}`,
			want: ctrlErr("addRoleACL", "ACL with this topic already exists"), check: ctrlWantRole("r1", ctrlR1)},
		ctrlCase{name: "add", cmd: `{"command":"addRoleACL","rolename":"r1","acltype":"publishClientSend","topic":"b/+/c","priority":5,"allow":true}`,
			want: ctrlOK("addRoleACL"), changed: true, kicks: ctrlKickUsers("u1", "u2"),
			check: ctrlWantRole("r1", `{"rolename":"r1","acls":[{"acltype":"publishClientSend","topic":"a/#","priority":5,"allow":true},{"acltype":"publishClientSend","topic":"b/+/c","priority":5,"allow":true},{"acltype":"subscribeLiteral","topic":"s/1","priority":0,"allow":true}]}`)},
		ctrlCase{name: "add the same topic under another type", cmd: `{"command":"addRoleACL","rolename":"r1","acltype":"subscribePattern","topic":"a/#"}`,
			want: ctrlOK("addRoleACL"), changed: true, kicks: ctrlKickUsers("u1", "u2"),
			check: ctrlWantRole("r1", `{"rolename":"r1","acls":[{"acltype":"publishClientSend","topic":"a/#","priority":5,"allow":true},{"acltype":"subscribeLiteral","topic":"s/1","priority":0,"allow":true},{"acltype":"subscribePattern","topic":"a/#","priority":0,"allow":false}]}`)},
		ctrlCase{name: "add the empty topic", cmd: `{"command":"addRoleACL","rolename":"r2","acltype":"unsubscribeLiteral","topic":"","allow":true,"priority":-7}`,
			want: ctrlOK("addRoleACL"), changed: true, kicks: ctrlKickUsers("u3"),
			check: ctrlWantRole("r2", `{"rolename":"r2","textname":"R2","acls":[{"acltype":"unsubscribeLiteral","topic":"","priority":-7,"allow":true}]}`)},
		ctrlCase{name: "add to a role of the anonymous group", cmd: `{"command":"addRoleACL","rolename":"r3","acltype":"subscribeLiteral","topic":"#"}`,
			want: ctrlOK("addRoleACL"), changed: true, kicks: Kicks{Usernames: []string{"u3"}, Anonymous: true}},
		ctrlCase{name: "remove a topic it lacks", cmd: `{"command":"removeRoleACL","rolename":"r1","acltype":"subscribeLiteral","topic":"a/#"}`,
			want: ctrlErr("removeRoleACL", "ACL not found")},
		ctrlCase{name: "remove", cmd: `{"command":"removeRoleACL","rolename":"r1","acltype":"PUBLISHCLIENTSEND","topic":"a/#"}`,
			want: ctrlOK("removeRoleACL"), changed: true, kicks: ctrlKickUsers("u1", "u2"),
			check: ctrlWantRole("r1", `{"rolename":"r1","acls":[{"acltype":"subscribeLiteral","topic":"s/1","priority":0,"allow":true}]}`)},
		ctrlCase{name: "remove one of two duplicates",
			setup: `{"command":"createRole","rolename":"d","acls":[{"acltype":"publishClientSend","topic":"x","priority":1},{"acltype":"publishClientSend","topic":"x","priority":2}]}`,
			cmd:   `{"command":"removeRoleACL","rolename":"d","acltype":"publishClientSend","topic":"x"}`,
			want:  ctrlOK("removeRoleACL"), changed: true,
			check: ctrlWantRole("d", `{"rolename":"d","acls":[{"acltype":"publishClientSend","topic":"x","priority":2,"allow":false}]}`)},
	)
	ctrlRunCases(t, cases)
}

func TestControlValidSubFilter(t *testing.T) {
	for filter, want := range map[string]bool{
		"": true, "#": true, "+": true, "a/+/b": true, "+/+": true, "a/#": true, "/": true, "$SYS/#": true,
		"a#": false, "a/#/b": false, "a+": false, "+a": false, "a/b+/c": false, "##": false, "#/": false,
		strings.Repeat("a", 65535): true, strings.Repeat("a", 65536): false,
		strings.Repeat("/", 200): true, strings.Repeat("/", 201): false,
	} {
		if got := ctrlValidSubFilter(filter); got != want {
			t.Errorf("ctrlValidSubFilter(%.20q...) = %v, want %v", filter, got, want)
		}
	}
}

func TestControlValidUTF8(t *testing.T) {
	for s, want := range map[string]bool{
		"": true, "abc": true, "é": true, "\u2028": true, "\ufffd": true, "\U0010fffd": true, "\U0001F600": true,
		"\x00": false, "\x1f": false, "\x7f": false, "\u0080": false, "\u009f": false, "\u00a0": true,
		"\ufdd0": false, "\ufdef": false, "\ufdf0": true, "\ufffe": false, "\uffff": false, "\U0001fffe": false, "\U0010ffff": false,
		"\xc0\x80": false, "\xed\xa0\x80": false, "\xf4\x90\x80\x80": false, "\xe2\x82": false, "\x80": false,
		strings.Repeat("x", 65536): true, strings.Repeat("x", 65537): false,
	} {
		if got := ctrlValidUTF8(s); got != want {
			t.Errorf("ctrlValidUTF8(%.20q) = %v, want %v", s, got, want)
		}
	}
}
