package dynsec

import "testing"

// The group objects of ctrlTestConfig as getGroup shows them.
const (
	ctrlAnon = `{"groupname":"anon","clients":[{"username":"u3"}],"roles":[{"rolename":"r3"}]}`
	ctrlG1   = `{"groupname":"g1","clients":[{"username":"u1"},{"username":"u2"}],"roles":[{"rolename":"r1","priority":1}]}`
	ctrlG2   = `{"groupname":"g2","clients":[],"roles":[{"rolename":"r2"}]}`
)

func ctrlWantGroup(name, want string) func(*testing.T, *Config) {
	return func(t *testing.T, cfg *Config) {
		t.Helper()
		got := ctrlGet(t, cfg, `{"command":"getGroup","groupname":"`+name+`"}`)
		if want := `{"command":"getGroup","data":{"group":` + want + `}}`; got != want {
			t.Errorf("getGroup %s\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestControlListGetGroups(t *testing.T) {
	list := func(groups string) string {
		return `{"command":"listGroups","data":{"totalCount":3,"groups":[` + groups + `]}}`
	}
	ctrlRunCases(t, []ctrlCase{
		{name: "list", cmd: `{"command":"listGroups"}`, want: list(`"anon","g1","g2"`)},
		{name: "list verbose", cmd: `{"command":"listGroups","verbose":true}`, want: list(ctrlAnon + "," + ctrlG1 + "," + ctrlG2)},
		{name: "list page", cmd: `{"command":"listGroups","count":0,"offset":2}`, want: list(`"g2"`)},
		{name: "get missing groupname", cmd: `{"command":"getGroup"}`, want: ctrlErr("getGroup", "Invalid/missing groupname")},
		{name: "get groupname not valid", cmd: `{"command":"getGroup","groupname":"\u0002"}`, want: ctrlErr("getGroup", "Group name not valid UTF-8")},
		{name: "get unknown", cmd: `{"command":"getGroup","groupname":"nope"}`, want: ctrlErr("getGroup", "Group not found")},
		{name: "get", cmd: `{"command":"getGroup","groupname":"g1"}`, want: `{"command":"getGroup","data":{"group":` + ctrlG1 + `}}`},
	})
}

func TestControlCreateDeleteGroup(t *testing.T) {
	cerr := func(msg string) string { return ctrlErr("createGroup", msg) }
	derr := func(msg string) string { return ctrlErr("deleteGroup", msg) }
	ctrlRunCases(t, []ctrlCase{
		{name: "create missing groupname", cmd: `{"command":"createGroup"}`, want: cerr("Invalid/missing groupname")},
		{name: "create groupname not valid", cmd: `{"command":"createGroup","groupname":"\ufdef"}`, want: cerr("Group name not valid UTF-8")},
		{name: "create textname not a string", cmd: `{"command":"createGroup","groupname":"n","textname":[]}`, want: cerr("Invalid/missing textname")},
		{name: "create textdescription not a string", cmd: `{"command":"createGroup","groupname":"n","textdescription":1}`, want: cerr("Invalid/missing textdescription")},
		{name: "create exists", cmd: `{"command":"createGroup","groupname":"g1","roles":[{"rolename":"nope"}]}`, want: cerr("Group already exists")},
		{name: "create unknown role", cmd: `{"command":"createGroup","groupname":"n","roles":[{"rolename":"nope"}]}`, want: cerr("Role not found")},
		{name: "create bad roles", cmd: `{"command":"createGroup","groupname":"n","roles":[{"name":"r1"}]}`, want: cerr("Internal error")},
		{name: "create", changed: true,
			cmd:   `{"command":"createGroup","groupname":"n","textname":"N","textdescription":"","roles":[{"rolename":"r2","priority":-1},{"rolename":"r1","priority":2}],"clients":[{"username":"u1"}]}`,
			want:  ctrlOK("createGroup"),
			check: ctrlWantGroup("n", `{"groupname":"n","textname":"N","textdescription":"","clients":[],"roles":[{"rolename":"r1","priority":2},{"rolename":"r2"}]}`)},
		{name: "delete missing groupname", cmd: `{"command":"deleteGroup"}`, want: derr("Invalid/missing groupname")},
		{name: "delete groupname not valid", cmd: `{"command":"deleteGroup","groupname":"\u0010"}`, want: derr("Group name not valid UTF-8")},
		{name: "delete unknown", cmd: `{"command":"deleteGroup","groupname":"nope"}`, want: derr("Group not found")},
		// Deliberate difference (d).
		{name: "delete the anonymous group", cmd: `{"command":"deleteGroup","groupname":"anon"}`, want: derr("Deleting the anonymous group is forbidden")},
		{name: "delete", cmd: `{"command":"deleteGroup","groupname":"g1"}`, want: ctrlOK("deleteGroup"),
			changed: true, kicks: ctrlKickUsers("u1", "u2"),
			check: ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[]}`)},
		{name: "delete an empty group", cmd: `{"command":"deleteGroup","groupname":"g2"}`, want: ctrlOK("deleteGroup"), changed: true},
		{name: "delete a former anonymous group", setup: `{"command":"setAnonymousGroup","groupname":"g2"}`,
			cmd: `{"command":"deleteGroup","groupname":"anon"}`, want: ctrlOK("deleteGroup"), changed: true, kicks: ctrlKickUsers("u3")},
	})
}

func TestControlModifyGroup(t *testing.T) {
	err := func(msg string) string { return ctrlErr("modifyGroup", msg) }
	ok := ctrlOK("modifyGroup")
	ctrlRunCases(t, []ctrlCase{
		{name: "missing groupname", cmd: `{"command":"modifyGroup"}`, want: err("Invalid/missing groupname")},
		{name: "groupname not valid", cmd: `{"command":"modifyGroup","groupname":"\u007f"}`, want: err("Group name not valid UTF-8")},
		{name: "unknown", cmd: `{"command":"modifyGroup","groupname":"nope"}`, want: err("Group not found")},
		{name: "unknown role", cmd: `{"command":"modifyGroup","groupname":"g1","roles":[{"rolename":"r2"},{"rolename":"nope"}]}`, want: err("Role not found")},
		{name: "bad roles", cmd: `{"command":"modifyGroup","groupname":"g1","roles":5}`, want: err("'roles' not an array or missing/invalid rolename")},
		// Deliberate differences (a) and (b): Mosquitto keeps the textname
		// and kicks u1 and u2.
		{name: "an error changes nothing", cmd: `{"command":"modifyGroup","groupname":"g1","textname":"X","clients":[],"roles":[{"rolename":"nope"}]}`,
			want: err("Role not found"), check: ctrlWantGroup("g1", ctrlG1)},
		// Deliberate difference (i): u1, whom "clients" removes, is kicked too.
		{name: "everything", changed: true, kicks: ctrlKickUsers("u1", "u2", "u3"),
			cmd:   `{"command":"modifyGroup","groupname":"g1","textname":"G","textdescription":"D","roles":[{"rolename":"r2","priority":4}],"clients":[{"username":"u3","priority":2},{"username":"nope"},"u1",{"username":"u2"},{"username":"u3"}]}`,
			want:  ok,
			check: ctrlWantGroup("g1", `{"groupname":"g1","textname":"G","textdescription":"D","clients":[{"username":"u2"},{"username":"u3"}],"roles":[{"rolename":"r2","priority":4}]}`)},
		{name: "member priority", changed: true, kicks: ctrlKickUsers("u1", "u2"),
			cmd: `{"command":"modifyGroup","groupname":"g1","clients":[{"username":"u1","priority":9},{"username":"u2"}]}`, want: ok,
			check: ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[{"groupname":"g1","priority":9}]}`)},
		{name: "anonymous group", changed: true, kicks: Kicks{Usernames: []string{"u3"}, Anonymous: true},
			cmd: `{"command":"modifyGroup","groupname":"anon","roles":[]}`, want: ok,
			check: ctrlWantGroup("anon", `{"groupname":"anon","clients":[{"username":"u3"}],"roles":[]}`)},
		{name: "wrong types are ignored", cmd: `{"command":"modifyGroup","groupname":"g1","textname":1,"textdescription":null,"clients":"u1"}`, want: ok},
		{name: "the values it already has", cmd: `{"command":"modifyGroup","groupname":"g1","roles":[{"rolename":"r1","priority":1}],"clients":[{"username":"u2"},{"username":"u1","priority":3}]}`, want: ok},
	})
}

func TestControlGroupClients(t *testing.T) {
	var cases []ctrlCase
	for _, cmd := range []string{"addGroupClient", "removeGroupClient"} {
		err := func(msg string) string { return ctrlErr(cmd, msg) }
		cases = append(cases,
			ctrlCase{name: cmd + " missing username", cmd: `{"command":"` + cmd + `","groupname":"g1"}`, want: err("Invalid/missing username")},
			ctrlCase{name: cmd + " username not valid", cmd: `{"command":"` + cmd + `","username":"\u0003"}`, want: err("Username not valid UTF-8")},
			ctrlCase{name: cmd + " missing groupname", cmd: `{"command":"` + cmd + `","username":"nope"}`, want: err("Invalid/missing groupname")},
			ctrlCase{name: cmd + " groupname not valid", cmd: `{"command":"` + cmd + `","username":"nope","groupname":"\uffff"}`, want: err("Group name not valid UTF-8")},
			ctrlCase{name: cmd + " unknown client first", cmd: `{"command":"` + cmd + `","username":"nope","groupname":"nope"}`, want: err("Client not found")},
			ctrlCase{name: cmd + " unknown group", cmd: `{"command":"` + cmd + `","username":"u1","groupname":"nope"}`, want: err("Group not found")})
	}
	cases = append(cases,
		// Deliberate difference (b): Mosquitto kicks u1 here too.
		ctrlCase{name: "add a member", cmd: `{"command":"addGroupClient","username":"u1","groupname":"g1","priority":1}`,
			want: ctrlErr("addGroupClient", "Client is already in this group"), check: ctrlWantClient("u1", ctrlU1)},
		ctrlCase{name: "add", cmd: `{"command":"addGroupClient","username":"u1","groupname":"g2","priority":4}`, want: ctrlOK("addGroupClient"),
			changed: true, kicks: ctrlKickUsers("u1"),
			check: ctrlWantClient("u1", `{"username":"u1","clientid":"cid1","textname":"T","roles":[{"rolename":"r1","priority":5}],"groups":[{"groupname":"g2","priority":4},{"groupname":"g1","priority":3}]}`)},
		ctrlCase{name: "remove", cmd: `{"command":"removeGroupClient","username":"u2","groupname":"g1"}`, want: ctrlOK("removeGroupClient"),
			changed: true, kicks: ctrlKickUsers("u2"),
			check: ctrlWantGroup("g1", `{"groupname":"g1","clients":[{"username":"u1"}],"roles":[{"rolename":"r1","priority":1}]}`)},
		ctrlCase{name: "remove a non-member", cmd: `{"command":"removeGroupClient","username":"u2","groupname":"g2"}`, want: ctrlOK("removeGroupClient")},
	)
	ctrlRunCases(t, cases)
}

func TestControlGroupRoles(t *testing.T) {
	var cases []ctrlCase
	for _, cmd := range []string{"addGroupRole", "removeGroupRole"} {
		err := func(msg string) string { return ctrlErr(cmd, msg) }
		cases = append(cases,
			ctrlCase{name: cmd + " missing groupname", cmd: `{"command":"` + cmd + `","rolename":"r1"}`, want: err("Invalid/missing groupname")},
			ctrlCase{name: cmd + " groupname not valid", cmd: `{"command":"` + cmd + `","groupname":"\u0004"}`, want: err("Group name not valid UTF-8")},
			ctrlCase{name: cmd + " missing rolename", cmd: `{"command":"` + cmd + `","groupname":"nope"}`, want: err("Invalid/missing rolename")},
			ctrlCase{name: cmd + " rolename not valid", cmd: `{"command":"` + cmd + `","groupname":"nope","rolename":"\u0005"}`, want: err("Role name not valid UTF-8")},
			ctrlCase{name: cmd + " unknown group first", cmd: `{"command":"` + cmd + `","groupname":"nope","rolename":"nope"}`, want: err("Group not found")},
			ctrlCase{name: cmd + " unknown role", cmd: `{"command":"` + cmd + `","groupname":"g1","rolename":"nope"}`, want: err("Role not found")})
	}
	cases = append(cases,
		ctrlCase{name: "add a role it has", cmd: `{"command":"addGroupRole","groupname":"g1","rolename":"r1","priority":7}`,
			want: ctrlErr("addGroupRole", "Group is already in this role"), check: ctrlWantGroup("g1", ctrlG1)},
		ctrlCase{name: "add", cmd: `{"command":"addGroupRole","groupname":"g1","rolename":"r2","priority":3}`, want: ctrlOK("addGroupRole"),
			changed: true, kicks: ctrlKickUsers("u1", "u2"),
			check: ctrlWantGroup("g1", `{"groupname":"g1","clients":[{"username":"u1"},{"username":"u2"}],"roles":[{"rolename":"r2","priority":3},{"rolename":"r1","priority":1}]}`)},
		ctrlCase{name: "add to the anonymous group", cmd: `{"command":"addGroupRole","groupname":"anon","rolename":"r1"}`, want: ctrlOK("addGroupRole"),
			changed: true, kicks: Kicks{Usernames: []string{"u3"}, Anonymous: true}},
		ctrlCase{name: "add to an empty group", cmd: `{"command":"addGroupRole","groupname":"g2","rolename":"r1"}`, want: ctrlOK("addGroupRole"), changed: true},
		ctrlCase{name: "remove", cmd: `{"command":"removeGroupRole","groupname":"g1","rolename":"r1"}`, want: ctrlOK("removeGroupRole"),
			changed: true, kicks: ctrlKickUsers("u1", "u2"),
			check: ctrlWantGroup("g1", `{"groupname":"g1","clients":[{"username":"u1"},{"username":"u2"}],"roles":[]}`)},
		ctrlCase{name: "remove a role it lacks", cmd: `{"command":"removeGroupRole","groupname":"g1","rolename":"r3"}`, want: ctrlOK("removeGroupRole")},
	)
	ctrlRunCases(t, cases)
}
