package dynsec

import "testing"

func TestControlDefaultACLAccess(t *testing.T) {
	const get = `{"command":"getDefaultACLAccess"}`
	wantDefault := func(want DefaultAccess) func(*testing.T, *Config) {
		return func(t *testing.T, cfg *Config) {
			t.Helper()
			if cfg.Default != want {
				t.Errorf("Default = %+v, want %+v", cfg.Default, want)
			}
		}
	}
	ctrlRunCases(t, []ctrlCase{
		{name: "get", cmd: get,
			want: `{"command":"getDefaultACLAccess","data":{"acls":[{"acltype":"publishClientSend","allow":false},{"acltype":"publishClientReceive","allow":true},{"acltype":"subscribe","allow":false},{"acltype":"unsubscribe","allow":true}]}}`},
		{name: "get with correlationData", cmd: `{"command":"getDefaultACLAccess","correlationData":"c"}`,
			want: `{"command":"getDefaultACLAccess","data":{"acls":[{"acltype":"publishClientSend","allow":false},{"acltype":"publishClientReceive","allow":true},{"acltype":"subscribe","allow":false},{"acltype":"unsubscribe","allow":true}]},"correlationData":"c"}`},
		{name: "set without acls", cmd: `{"command":"setDefaultACLAccess"}`,
			want: ctrlErr("setDefaultACLAccess", "Missing/invalid actions array")},
		{name: "set with acls not an array", cmd: `{"command":"setDefaultACLAccess","acls":{"acltype":"subscribe","allow":true}}`,
			want: ctrlErr("setDefaultACLAccess", "Missing/invalid actions array")},
		{name: "set", changed: true,
			cmd:   `{"command":"setDefaultACLAccess","acls":[{"acltype":"publishClientSend","allow":true},{"acltype":"SUBSCRIBE","allow":true},{"acltype":"unsubscribe","allow":false}]}`,
			want:  ctrlOK("setDefaultACLAccess"),
			check: wantDefault(DefaultAccess{PublishClientSend: true, PublishClientReceive: true, Subscribe: true})},
		{name: "later element wins", changed: true,
			cmd:   `{"command":"setDefaultACLAccess","acls":[{"acltype":"subscribe","allow":true},{"acltype":"subscribe","allow":false},{"acltype":"publishClientReceive","allow":false}]}`,
			want:  ctrlOK("setDefaultACLAccess"),
			check: wantDefault(DefaultAccess{Unsubscribe: true})},
		{name: "unusable elements are skipped and it still succeeds",
			cmd:   `{"command":"setDefaultACLAccess","acls":[1,null,[],{"acltype":5,"allow":true},{"acltype":"subscribe","allow":"yes"},{"acltype":"subscribe","allow":1},{"acltype":"bogus","allow":true},{"acltype":"subscribeLiteral","allow":true},{"allow":true}]}`,
			want:  ctrlOK("setDefaultACLAccess"),
			check: wantDefault(MosquittoDefaultAccess)},
		{name: "empty array", cmd: `{"command":"setDefaultACLAccess","acls":[]}`, want: ctrlOK("setDefaultACLAccess")},
		{name: "the values it already has", cmd: `{"command":"setDefaultACLAccess","acls":[{"acltype":"publishClientReceive","allow":true}]}`,
			want: ctrlOK("setDefaultACLAccess")},
		// Deliberate difference (e): the form Debian's mosquitto_ctrl 2.0.11 sends.
		{name: "mosquitto_ctrl access form", changed: true,
			cmd:   `{"command":"setDefaultACLAccess","acls":[{"acltype":"publishClientSend","access":"allow"},{"acltype":"publishClientReceive","access":"DENY"},{"acltype":"subscribe","access":"maybe"}]}`,
			want:  ctrlOK("setDefaultACLAccess"),
			check: wantDefault(DefaultAccess{PublishClientSend: true, Unsubscribe: true})},
		{name: "a boolean allow beats access", changed: true,
			cmd:   `{"command":"setDefaultACLAccess","acls":[{"acltype":"subscribe","allow":true,"access":"deny"}]}`,
			want:  ctrlOK("setDefaultACLAccess"),
			check: wantDefault(DefaultAccess{PublishClientReceive: true, Subscribe: true, Unsubscribe: true})},
	})
}

func TestControlAnonymousGroup(t *testing.T) {
	ctrlRunCases(t, []ctrlCase{
		{name: "get", cmd: `{"command":"getAnonymousGroup"}`,
			want: `{"command":"getAnonymousGroup","data":{"group":{"groupname":"anon"}}}`},
		{name: "set without groupname", cmd: `{"command":"setAnonymousGroup"}`,
			want: ctrlErr("setAnonymousGroup", "Invalid/missing groupname")},
		{name: "set with a number", cmd: `{"command":"setAnonymousGroup","groupname":5}`,
			want: ctrlErr("setAnonymousGroup", "Invalid/missing groupname")},
		{name: "set with a control character", cmd: `{"command":"setAnonymousGroup","groupname":"g\u0001"}`,
			want: ctrlErr("setAnonymousGroup", "Group name not valid UTF-8")},
		{name: "set unknown group", cmd: `{"command":"setAnonymousGroup","groupname":"nope"}`,
			want: ctrlErr("setAnonymousGroup", "Group not found")},
		{name: "set", cmd: `{"command":"setAnonymousGroup","groupname":"g1"}`, want: ctrlOK("setAnonymousGroup"),
			changed: true, kicks: Kicks{Anonymous: true},
			check: func(t *testing.T, cfg *Config) {
				if got := ctrlGet(t, cfg, `{"command":"getAnonymousGroup"}`); got != `{"command":"getAnonymousGroup","data":{"group":{"groupname":"g1"}}}` {
					t.Errorf("getAnonymousGroup = %s", got)
				}
			}},
		{name: "set the group it already is", cmd: `{"command":"setAnonymousGroup","groupname":"anon"}`,
			want: ctrlOK("setAnonymousGroup")},
	})
}

func TestControlGetAnonymousGroupNone(t *testing.T) {
	cfg := ctrlTestConfig(t)
	cfg.AnonymousGroup = ""
	if got := ctrlGet(t, cfg, `{"command":"getAnonymousGroup"}`); got != `{"command":"getAnonymousGroup","data":{"group":{"groupname":""}}}` {
		t.Errorf("getAnonymousGroup = %s", got)
	}
}
