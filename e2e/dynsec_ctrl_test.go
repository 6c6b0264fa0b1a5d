package e2e

import (
	"strings"
	"testing"
)

// TestDynsecMosquittoCtrl drives Debian's mosquitto_ctrl (2.0.x) through
// every dynsec command it offers against a node seeded with a file real
// Mosquitto wrote, and checks what it prints: its text formatting of
// Mosquitto's responses is the contract (spec in dynsec/doc.go).
func TestDynsecMosquittoCtrl(t *testing.T) {
	n := newDynsecNode(t, "")
	n.start()

	// Clients.
	adminCtrl(t, n, "admin\nalice\nbob\nmallory\n", "listClients")
	adminCtrl(t, n, "alice\nbob\n", "listClients", "2", "1")
	adminCtrl(t, n, "Username: alice\nClientid: alice-device\nGroups:   devices (priority: -1)\n", "getClient", "alice")
	adminCtrl(t, n, "Username: bob\nClientid:\nRoles:    operator (priority: 3)\n", "getClient", "bob")
	adminCtrl(t, n, "Username: mallory\nClientid:\nDisabled: true\n", "getClient", "mallory")
	adminCtrlErr(t, n, "getClient: Error: Client not found", "getClient", "nobody")
	adminCtrl(t, n, "", "createClient", "carol", "-c", "carol-id", "-p", "carolpass")
	adminCtrlErr(t, n, "createClient: Error: Client already exists", "createClient", "carol", "-p", "x")
	adminCtrl(t, n, "Username: carol\nClientid: carol-id\n", "getClient", "carol")
	adminCtrl(t, n, "", "setClientId", "carol")
	adminCtrl(t, n, "Username: carol\nClientid:\n", "getClient", "carol")
	adminCtrl(t, n, "", "setClientId", "carol", "carol-2")
	adminCtrl(t, n, "Username: carol\nClientid: carol-2\n", "getClient", "carol")
	adminCtrl(t, n, "", "setClientId", "carol")
	adminCtrl(t, n, "", "setClientPassword", "carol", "newpass")
	if _, errOut := ctrl(t, n, "carol", "carolpass", "listClients"); !strings.Contains(errOut, "Not authorized") {
		t.Fatalf("the old password still works after setClientPassword: %q", errOut)
	}
	// carol may log in with the new password but holds no role: the
	// default ACL access (subscribe: deny) refuses the response topic.
	if _, errOut := ctrl(t, n, "carol", "newpass", "listClients"); !strings.Contains(errOut, "Subscribe error: Not authorized") {
		t.Fatalf("carol with her new password: %q; want a login refused only at the subscription", errOut)
	}
	adminCtrl(t, n, "", "addClientRole", "carol", "operator", "7")
	adminCtrl(t, n, "", "addClientRole", "carol", "readonly")
	adminCtrl(t, n, "Username: carol\nClientid:\nRoles:    operator (priority: 7)\n          readonly (priority: -1)\n", "getClient", "carol")
	adminCtrl(t, n, "", "removeClientRole", "carol", "readonly")
	adminCtrlErr(t, n, "addClientRole: Error: Role not found", "addClientRole", "carol", "nope")
	adminCtrl(t, n, "", "disableClient", "carol")
	adminCtrl(t, n, "Username: carol\nClientid:\nDisabled: true\nRoles:    operator (priority: 7)\n", "getClient", "carol")
	adminCtrl(t, n, "", "enableClient", "carol")
	adminCtrl(t, n, "Username: carol\nClientid:\nRoles:    operator (priority: 7)\n", "getClient", "carol")

	// Groups.
	adminCtrl(t, n, "", "createGroup", "g2")
	adminCtrlErr(t, n, "createGroup: Error: Group already exists", "createGroup", "g2")
	adminCtrl(t, n, "", "addGroupRole", "g2", "sensor", "4")
	adminCtrl(t, n, "", "addGroupRole", "g2", "operator")
	adminCtrl(t, n, "", "addGroupClient", "g2", "alice", "3")
	adminCtrl(t, n, "", "addGroupClient", "g2", "carol")
	adminCtrl(t, n, "Groupname: g2\nRoles:     sensor (priority: 4)\n           operator (priority: -1)\nClients:   alice\n           carol\n", "getGroup", "g2")
	adminCtrl(t, n, "Username: alice\nClientid: alice-device\nGroups:   g2 (priority: 3)\n          devices (priority: -1)\n", "getClient", "alice")
	adminCtrl(t, n, "", "removeGroupRole", "g2", "operator")
	adminCtrl(t, n, "", "removeGroupClient", "g2", "carol")
	adminCtrl(t, n, "Groupname: g2\nRoles:     sensor (priority: 4)\nClients:   alice\n", "getGroup", "g2")
	adminCtrlErr(t, n, "getGroup: Error: Group not found", "getGroup", "nope")
	adminCtrl(t, n, "devices\ng2\nguests\n", "listGroups")
	adminCtrl(t, n, "guests\n", "getAnonymousGroup")
	adminCtrl(t, n, "", "setAnonymousGroup", "g2")
	adminCtrl(t, n, "g2\n", "getAnonymousGroup")
	adminCtrlErr(t, n, "deleteGroup: Error: Deleting the anonymous group is forbidden", "deleteGroup", "g2")
	adminCtrl(t, n, "", "setAnonymousGroup", "guests")
	adminCtrl(t, n, "", "deleteGroup", "g2")
	adminCtrl(t, n, "devices\nguests\n", "listGroups")

	// Roles.
	adminCtrl(t, n, "", "createRole", "r1")
	adminCtrl(t, n, "", "addRoleACL", "r1", "publishClientSend", "a/#", "allow", "5")
	adminCtrl(t, n, "", "addRoleACL", "r1", "subscribeLiteral", "secret/#", "deny", "10")
	adminCtrl(t, n, "", "addRoleACL", "r1", "unsubscribePattern", "#", "allow")
	adminCtrlErr(t, n, "addRoleACL: Error: ACL with this topic already exists", "addRoleACL", "r1", "publishClientSend", "a/#", "deny")
	adminCtrl(t, n, "Rolename: r1\n"+
		"ACLs:     publishClientSend    : allow : a/# (priority: 5)\n"+
		"          subscribeLiteral     : deny  : secret/# (priority: 10)\n"+
		"          unsubscribePattern   : allow : # (priority: 0)\n", "getRole", "r1")
	adminCtrl(t, n, "", "removeRoleACL", "r1", "publishClientSend", "a/#")
	adminCtrl(t, n, "admin\noperator\nr1\nreadonly\nsensor\n", "listRoles")
	adminCtrl(t, n, "", "deleteRole", "r1")
	adminCtrlErr(t, n, "getRole: Error: Role not found", "getRole", "r1")
	adminCtrl(t, n, "admin\noperator\n", "listRoles", "2")

	// General.
	adminCtrl(t, n, "publishClientSend    : deny\npublishClientReceive : allow\nsubscribe            : deny\nunsubscribe          : allow\n", "getDefaultACLAccess")
	// Debian's 2.0.11 mosquitto_ctrl sends this one in a form real
	// Mosquitto ignores; Triad understands it.
	adminCtrl(t, n, "", "setDefaultACLAccess", "subscribe", "allow")
	adminCtrl(t, n, "publishClientSend    : deny\npublishClientReceive : allow\nsubscribe            : allow\nunsubscribe          : allow\n", "getDefaultACLAccess")
	adminCtrl(t, n, "", "setDefaultACLAccess", "subscribe", "deny")

	adminCtrl(t, n, "", "deleteClient", "carol")
	adminCtrl(t, n, "admin\nalice\nbob\nmallory\n", "listClients")
	adminCtrlErr(t, n, "deleteClient: Error: Client not found", "deleteClient", "carol")

	// Only an admin may send commands: bob may not even subscribe to the
	// response topic, mallory may not log in.
	if _, errOut := ctrl(t, n, "bob", "bobpass", "listClients"); !strings.Contains(errOut, "Subscribe error: Not authorized") {
		t.Fatalf("bob ran a control command: %q", errOut)
	}
	if _, errOut := ctrl(t, n, "mallory", "mallorypass", "listClients"); !strings.Contains(errOut, "Not authorized") {
		t.Fatalf("disabled mallory logged in: %q", errOut)
	}
}
