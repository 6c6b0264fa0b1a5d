package dynsec

import (
	"slices"
	"strings"
	"testing"
)

// Helpers are prefixed "pt" so they cannot clash with the tests other
// files of this package bring.

func ptACL(typ, topic string, priority int, allow bool) ACL {
	return ACL{Type: typ, Topic: topic, Priority: priority, Allow: allow}
}

func ptRole(c *Config, name string, acls ...ACL) {
	c.Roles[name] = &Role{Name: name, ACLs: acls}
}

func ptRef(name string, priority int) RoleRef { return RoleRef{Name: name, Priority: priority} }

func ptClient(c *Config, username string, roles ...RoleRef) *Client {
	cl := &Client{Username: username, Roles: roles}
	c.Clients[username] = cl
	return cl
}

// ptGroup adds a group with the given roles; add members with ptMember.
func ptGroup(c *Config, name string, roles ...RoleRef) {
	c.Groups[name] = &Group{Name: name, Roles: roles}
}

func ptMember(c *Config, group, username string, priority int) {
	g := c.Groups[group]
	g.Members = append(g.Members, Member{Username: username, Priority: priority})
}

func ptUser(name string) Identity {
	return Identity{Username: name, HasUsername: true, ClientID: name + "-id"}
}

var ptAnon = Identity{ClientID: "anon-id"}

// ptPassword hashes pw with a fixed salt so test runs are repeatable.
func ptPassword(t *testing.T, pw string) *Password {
	t.Helper()
	p, err := HashPassword(pw, strings.NewReader("0123456789ab"))
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return p
}

// ptCheck is one Allowed question and its expected answer.
type ptCheck struct {
	name   string
	id     Identity
	access Access
	topic  string
	want   bool
}

func ptRun(t *testing.T, p *Policy, checks []ptCheck) {
	t.Helper()
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Allowed(tt.id, tt.access, tt.topic); got != tt.want {
				t.Errorf("Allowed(%+v, %v, %q) = %v, want %v", tt.id, tt.access, tt.topic, got, tt.want)
			}
		})
	}
}

func TestPolicyAccessString(t *testing.T) {
	tests := []struct {
		a    Access
		want string
	}{
		{AccessPublish, "publishClientSend"},
		{AccessReceive, "publishClientReceive"},
		{AccessSubscribe, "subscribe"},
		{AccessUnsubscribe, "unsubscribe"},
		{Access(9), "Access(9)"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("Access(%d).String() = %q, want %q", int(tt.a), got, tt.want)
		}
	}
}

// TestPolicyLiteralBeforePattern is the verified example of spec §4.1: a
// literal found in a role decides before any of its patterns, whatever
// the priorities; default subscribe is allow so a deny must come from the
// pattern.
func TestPolicyLiteralBeforePattern(t *testing.T) {
	c := NewConfig(DefaultAccess{Subscribe: true, Unsubscribe: true})
	ptRole(c, "r",
		ptACL(SubscribePattern, "a/#", 100, false),
		ptACL(SubscribeLiteral, "a/b", 0, true),
		ptACL(UnsubscribePattern, "a/#", 100, false),
		ptACL(UnsubscribeLiteral, "a/b", 0, true))
	ptClient(c, "u", ptRef("r", NoPriority))
	u := ptUser("u")
	ptRun(t, NewPolicy(c), []ptCheck{
		{"sub literal wins", u, AccessSubscribe, "a/b", true},
		{"sub pattern a/c", u, AccessSubscribe, "a/c", false},
		{"sub pattern a/+", u, AccessSubscribe, "a/+", false},
		{"sub pattern a", u, AccessSubscribe, "a", false},
		{"sub no match default", u, AccessSubscribe, "b", true},
		{"unsub literal wins", u, AccessUnsubscribe, "a/b", true},
		{"unsub pattern a/c", u, AccessUnsubscribe, "a/c", false},
		{"unsub pattern a/+", u, AccessUnsubscribe, "a/+", false},
	})
}

// TestPolicyEarlierRoleBeatsLiteral checks that the literal-first rule is
// per role: an earlier role's pattern decides before a later role's
// literal.
func TestPolicyEarlierRoleBeatsLiteral(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	ptRole(c, "first", ptACL(SubscribePattern, "a/#", 0, true))
	ptRole(c, "second", ptACL(SubscribeLiteral, "a/b", 100, false), ptACL(SubscribeLiteral, "x", 0, true))
	ptClient(c, "u", ptRef("first", 5), ptRef("second", 1))
	u := ptUser("u")
	ptRun(t, NewPolicy(c), []ptCheck{
		{"earlier pattern", u, AccessSubscribe, "a/b", true},
		{"later literal", u, AccessSubscribe, "x", true},
		{"literal is exact", u, AccessSubscribe, "x/y", false},
	})
}

func TestPolicyTypesAreSeparate(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	ptRole(c, "r",
		ptACL(PublishClientSend, "send", 0, true),
		ptACL(PublishClientReceive, "recv", 0, true),
		ptACL(SubscribeLiteral, "subl", 0, true),
		ptACL(SubscribePattern, "subp/#", 0, true),
		ptACL(UnsubscribeLiteral, "unsl", 0, true),
		ptACL(UnsubscribePattern, "unsp/#", 0, true))
	ptClient(c, "u", ptRef("r", NoPriority))
	u := ptUser("u")
	// Each access is granted exactly its own type's topics.
	granted := map[Access][]string{
		AccessPublish:     {"send"},
		AccessReceive:     {"recv"},
		AccessSubscribe:   {"subl", "subp/x"},
		AccessUnsubscribe: {"unsl", "unsp/x"},
	}
	p := NewPolicy(c)
	for a, want := range granted {
		for _, topic := range []string{"send", "recv", "subl", "subp/x", "unsl", "unsp/x"} {
			exp := slices.Contains(want, topic)
			if got := p.Allowed(u, a, topic); got != exp {
				t.Errorf("Allowed(%v, %q) = %v, want %v", a, topic, got, exp)
			}
		}
	}
	if p.Allowed(u, Access(7), "send") {
		t.Error("an unknown Access was allowed")
	}
}

// TestPolicyDollarTopics: a wildcard-first filter never matches a '$'
// topic for publish and receive, so "#" deny leaves $SYS/x to the default.
func TestPolicyDollarTopics(t *testing.T) {
	c := NewConfig(DefaultAccess{PublishClientSend: true, PublishClientReceive: true})
	ptRole(c, "r",
		ptACL(PublishClientSend, "#", 0, false),
		ptACL(PublishClientReceive, "+/x", 0, false),
		ptACL(PublishClientReceive, "$SYS/#", 0, false))
	ptClient(c, "u", ptRef("r", NoPriority))
	u := ptUser("u")
	ptRun(t, NewPolicy(c), []ptCheck{
		{"# denies plain", u, AccessPublish, "a/b", false},
		{"# misses $SYS", u, AccessPublish, "$SYS/x", true},
		{"# misses $foo", u, AccessPublish, "$foo", true},
		{"+/x misses $bar/x", u, AccessReceive, "$bar/x", true},
		{"+/x denies a/x", u, AccessReceive, "a/x", false},
		{"$SYS/# matches", u, AccessReceive, "$SYS/broker/uptime", false},
	})
}

// TestPolicyControlNeverDefault: the default access never grants a topic
// starting with the 8 bytes "$CONTROL", but an explicit ACL can.
func TestPolicyControlNeverDefault(t *testing.T) {
	c := NewConfig(DefaultAccess{PublishClientSend: true, PublishClientReceive: true, Subscribe: true, Unsubscribe: true})
	ptRole(c, "ctl",
		ptACL(PublishClientSend, "$CONTROL/dynamic-security/#", 0, true),
		ptACL(SubscribePattern, "$CONTROL/dynamic-security/#", 0, true))
	ptClient(c, "plain")
	ptClient(c, "admin", ptRef("ctl", NoPriority))
	plain, admin := ptUser("plain"), ptUser("admin")
	var checks []ptCheck
	for _, a := range []Access{AccessPublish, AccessReceive, AccessSubscribe, AccessUnsubscribe} {
		for _, topic := range []string{"$CONTROL/dynamic-security/v1", "$CONTROL", "$CONTROLX/y", "$CONTROL/dynamic-security/#"} {
			checks = append(checks,
				ptCheck{"user " + a.String() + " " + topic, plain, a, topic, false},
				ptCheck{"anonymous " + a.String() + " " + topic, ptAnon, a, topic, false})
		}
		checks = append(checks, ptCheck{"default " + a.String(), plain, a, "foo/b", true})
	}
	checks = append(checks,
		ptCheck{"explicit publish", admin, AccessPublish, "$CONTROL/dynamic-security/v1", true},
		ptCheck{"explicit subscribe", admin, AccessSubscribe, "$CONTROL/dynamic-security/#", true},
		ptCheck{"no explicit receive", admin, AccessReceive, "$CONTROL/dynamic-security/v1/response", false},
		ptCheck{"share is not $CONTROL", plain, AccessSubscribe, "$share/g/$CONTROL/x", true},
		ptCheck{"lower case is not $CONTROL", plain, AccessPublish, "$control/x", true})
	ptRun(t, NewPolicy(c), checks)
}

// TestPolicyRoleOrder covers the evaluation order: client roles before
// group roles whatever the priorities, roles and groups by priority then
// name, ACLs by priority then insertion.
func TestPolicyRoleOrder(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	ptRole(c, "deny-t", ptACL(PublishClientSend, "t", 0, false), ptACL(SubscribeLiteral, "t", 0, false))
	ptRole(c, "allow-t", ptACL(PublishClientSend, "t", 100, true), ptACL(SubscribeLiteral, "t", 100, true))
	ptRole(c, "deny-hash", ptACL(PublishClientSend, "x/#", 0, false))
	ptRole(c, "allow-xy", ptACL(PublishClientSend, "x/y", 1000, true), ptACL(PublishClientSend, "z", 0, true))
	ptRole(c, "prio",
		ptACL(PublishClientSend, "p/#", 1, true),
		ptACL(PublishClientSend, "p/x", 2, false),
		ptACL(PublishClientSend, "q/+", 0, false), // insertion order breaks the tie
		ptACL(PublishClientSend, "q/a", 0, true))

	// client role (no priority, ACL priority 0) before a group role with
	// every priority high
	ptGroup(c, "high", ptRef("allow-xy", 100))
	ptClient(c, "direct-first", ptRef("deny-hash", NoPriority))
	ptMember(c, "high", "direct-first", 100)

	// client roles: priority first, then name
	ptClient(c, "role-prio", ptRef("allow-t", 1), ptRef("deny-t", 5))
	ptClient(c, "role-name", ptRef("deny-t", 3), ptRef("allow-t", 3))

	// groups: this member's priority first, then name
	ptGroup(c, "ga", ptRef("allow-t", NoPriority))
	ptGroup(c, "gb", ptRef("deny-t", NoPriority))
	ptClient(c, "group-prio")
	ptMember(c, "ga", "group-prio", 1)
	ptMember(c, "gb", "group-prio", 5)
	ptClient(c, "group-name")
	ptMember(c, "gb", "group-name", NoPriority)
	ptMember(c, "ga", "group-name", NoPriority)

	// a group's roles: priority first
	ptGroup(c, "gr", ptRef("allow-t", 1), ptRef("deny-t", 2))
	ptClient(c, "group-role-prio")
	ptMember(c, "gr", "group-role-prio", NoPriority)

	ptClient(c, "acl-prio", ptRef("prio", NoPriority))
	ptRun(t, NewPolicy(c), []ptCheck{
		{"client role before group role", ptUser("direct-first"), AccessPublish, "x/y", false},
		{"group role when client roles miss", ptUser("direct-first"), AccessPublish, "z", true},
		{"client role priority", ptUser("role-prio"), AccessPublish, "t", false},
		{"client role priority subscribe", ptUser("role-prio"), AccessSubscribe, "t", false},
		{"client role name on tie", ptUser("role-name"), AccessPublish, "t", true},
		{"group member priority", ptUser("group-prio"), AccessPublish, "t", false},
		{"group member priority subscribe", ptUser("group-prio"), AccessSubscribe, "t", false},
		{"group name on tie", ptUser("group-name"), AccessPublish, "t", true},
		{"group role priority", ptUser("group-role-prio"), AccessPublish, "t", false},
		{"acl priority", ptUser("acl-prio"), AccessPublish, "p/x", false},
		{"acl priority lower", ptUser("acl-prio"), AccessPublish, "p/y", true},
		{"acl tie insertion order", ptUser("acl-prio"), AccessPublish, "q/a", false},
	})
}

// TestPolicyMemberGroupsMatchesClientGroups checks the one-pass group index
// against Config.ClientGroups, which defines the order.
func TestPolicyMemberGroupsMatchesClientGroups(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	for _, g := range []string{"g1", "g2", "g3", "G0"} {
		ptGroup(c, g)
	}
	ptMember(c, "g1", "u", 2)
	ptMember(c, "g2", "u", NoPriority)
	ptMember(c, "g3", "u", 2)
	ptMember(c, "G0", "u", NoPriority)
	ptMember(c, "g3", "u", 9) // a duplicate entry: the first one counts
	ptMember(c, "g2", "v", 0)
	idx := memberGroups(c)
	for _, user := range []string{"u", "v", "nobody"} {
		got, want := idx[user], c.ClientGroups(user)
		if len(got) != len(want) {
			t.Fatalf("%s: groups %v, want %v", user, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: groups %v, want %v", user, got, want)
				break
			}
		}
	}
}

// TestPolicyIdentities covers who gets which roles: unknown usernames,
// anonymous clients with and without an anonymous group, dangling role
// references, a role reached twice.
func TestPolicyIdentities(t *testing.T) {
	def := DefaultAccess{PublishClientSend: true, PublishClientReceive: true, Subscribe: true, Unsubscribe: true}
	c := NewConfig(def)
	ptRole(c, "deny-a", ptACL(PublishClientSend, "a", 0, false), ptACL(SubscribePattern, "a/#", 0, false))
	ptRole(c, "allow-a", ptACL(PublishClientSend, "a", 0, true))
	ptGroup(c, "anon", ptRef("deny-a", NoPriority))
	ptGroup(c, "twice", ptRef("deny-a", NoPriority), ptRef("allow-a", -5))
	ptClient(c, "known")
	ptClient(c, "dangling", ptRef("no-such-role", 10), ptRef("allow-a", 0))
	ptClient(c, "twice", ptRef("deny-a", 0))
	ptMember(c, "twice", "twice", NoPriority)
	ptClient(c, "") // the empty username is a valid name
	ptMember(c, "anon", "", NoPriority)
	c.AnonymousGroup = "anon"

	noGroup := NewConfig(def)
	ptRole(noGroup, "deny-a", ptACL(PublishClientSend, "a", 0, false))
	missingGroup := noGroup.Clone()
	missingGroup.AnonymousGroup = "gone"

	anonWithName := Identity{Username: "known", ClientID: "x"} // HasUsername false: anonymous
	ptRun(t, NewPolicy(c), []ptCheck{
		{"unknown username no default", ptUser("eve"), AccessPublish, "b", false},
		{"unknown username receive", ptUser("eve"), AccessReceive, "b", false},
		{"unknown username subscribe", ptUser("eve"), AccessSubscribe, "b", false},
		{"known uses default", ptUser("known"), AccessPublish, "a", true},
		{"anonymous group applies", ptAnon, AccessPublish, "a", false},
		{"anonymous group subscribe", ptAnon, AccessSubscribe, "a/b", false},
		{"anonymous default", ptAnon, AccessPublish, "b", true},
		{"anonymous ignores Username", anonWithName, AccessPublish, "a", false},
		{"empty username is a user", Identity{HasUsername: true}, AccessPublish, "a", false},
		{"dangling role skipped", ptUser("dangling"), AccessPublish, "a", true},
		{"role reached twice", ptUser("twice"), AccessPublish, "a", false},
	})
	ptRun(t, NewPolicy(noGroup), []ptCheck{
		{"no anonymous group", ptAnon, AccessPublish, "a", true},
	})
	ptRun(t, NewPolicy(missingGroup), []ptCheck{
		{"missing anonymous group", ptAnon, AccessPublish, "a", true},
	})
	ptRun(t, NewPolicy(nil), []ptCheck{
		{"nil config anonymous", ptAnon, AccessReceive, "a", false},
		{"nil config user", ptUser("u"), AccessReceive, "a", false},
	})
}

// TestPolicyOddStoredFilters: dynsec stores ACL topics unvalidated; an
// invalid publish filter never matches, and a topic with a wildcard
// matches no ACL.
func TestPolicyOddStoredFilters(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	ptRole(c, "r",
		ptACL(PublishClientSend, "a/#/c", 10, true),
		ptACL(PublishClientSend, "b+", 10, true),
		ptACL(PublishClientSend, "", 10, true),
		ptACL(PublishClientSend, "#", 0, true),
		ptACL(PublishClientReceive, "#", 0, true),
		ptACL(SubscribeLiteral, "dup", 5, true),
		ptACL(SubscribeLiteral, "dup", 9, false),
		ptACL(SubscribeLiteral, "tie", 0, false),
		ptACL(SubscribeLiteral, "tie", 0, true))
	ptClient(c, "u", ptRef("r", NoPriority))
	u := ptUser("u")
	p := NewPolicy(c)
	ptRun(t, p, []ptCheck{
		{"valid # still matches", u, AccessPublish, "a/b/c", true},
		{"wildcard topic matches nothing", u, AccessPublish, "a/+", false},
		{"hash topic matches nothing", u, AccessReceive, "a/#", false},
		{"empty topic matches nothing", u, AccessPublish, "", false},
		// Duplicate literals: the first in priority order decides.
		{"duplicate literal by priority", u, AccessSubscribe, "dup", false},
		{"duplicate literal by insertion", u, AccessSubscribe, "tie", false},
	})
	if n := len(p.clients["u"].acls.publish); n != 1 {
		t.Errorf("compiled %d publish filters, want 1 (invalid ones dropped)", n)
	}
}

// TestPolicySubstitution covers %c and %u in the pattern ACL types, and
// their absence from the literal types.
func TestPolicySubstitution(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	ptRole(c, "r",
		ptACL(PublishClientSend, "up/%c/#", 0, true),
		ptACL(PublishClientReceive, "down/%u/+", 0, true),
		ptACL(SubscribePattern, "down/%u/#", 0, true),
		ptACL(SubscribeLiteral, "lit/%c", 0, true),
		ptACL(UnsubscribePattern, "down/%c/#", 0, true),
		ptACL(UnsubscribeLiteral, "lit/%u", 0, true))
	ptGroup(c, "g", ptRef("r", NoPriority))
	c.AnonymousGroup = "g"
	for _, name := range []string{"u1", "a+b", "a#", "a/b", "#", ""} {
		ptClient(c, name, ptRef("r", NoPriority))
	}
	u1 := Identity{Username: "u1", HasUsername: true, ClientID: "c1"}
	ptRun(t, NewPolicy(c), []ptCheck{
		{"publish own client id", u1, AccessPublish, "up/c1/t", true},
		{"publish own client id parent", u1, AccessPublish, "up/c1", true},
		{"publish other client id", u1, AccessPublish, "up/c2/t", false},
		{"publish username for %c", u1, AccessPublish, "up/u1/t", false},
		{"publish literal %c", u1, AccessPublish, "up/%c/t", false},
		{"receive own username", u1, AccessReceive, "down/u1/x", true},
		{"receive other username", u1, AccessReceive, "down/u2/x", false},
		{"subscribe own", u1, AccessSubscribe, "down/u1/#", true},
		{"subscribe own level", u1, AccessSubscribe, "down/u1", true},
		{"subscribe other", u1, AccessSubscribe, "down/u2/#", false},
		{"subscribe plus", u1, AccessSubscribe, "down/+/#", false},
		{"subscribe literal %u", u1, AccessSubscribe, "down/%u/#", false},
		{"unsubscribe own client id", u1, AccessUnsubscribe, "down/c1/x", true},
		{"unsubscribe username for %c", u1, AccessUnsubscribe, "down/u1/x", false},
		{"subscribeLiteral no substitution", u1, AccessSubscribe, "lit/c1", false},
		{"subscribeLiteral literal text", u1, AccessSubscribe, "lit/%c", true},
		{"unsubscribeLiteral no substitution", u1, AccessUnsubscribe, "lit/u1", false},
		{"unsubscribeLiteral literal text", u1, AccessUnsubscribe, "lit/%u", true},
		{"username with plus", Identity{Username: "a+b", HasUsername: true, ClientID: "c"}, AccessSubscribe, "down/a+b/#", false},
		{"username with plus via plus", Identity{Username: "a+b", HasUsername: true, ClientID: "c"}, AccessSubscribe, "down/+/#", false},
		{"username with hash", Identity{Username: "a#", HasUsername: true, ClientID: "c"}, AccessSubscribe, "down/a#", false},
		{"username hash alone", Identity{Username: "#", HasUsername: true, ClientID: "c"}, AccessSubscribe, "down/#", false},
		{"username with slash", Identity{Username: "a/b", HasUsername: true, ClientID: "c"}, AccessReceive, "down/a/b", false},
		{"username with slash subscribe", Identity{Username: "a/b", HasUsername: true, ClientID: "c"}, AccessSubscribe, "down/a/b", false},
		{"empty username", Identity{HasUsername: true, ClientID: "c"}, AccessReceive, "down//x", false},
		{"client id with slash", Identity{Username: "u1", HasUsername: true, ClientID: "c/d"}, AccessPublish, "up/c/d", false},
		{"client id with plus", Identity{Username: "u1", HasUsername: true, ClientID: "+"}, AccessUnsubscribe, "down/+/x", false},
		{"empty client id", Identity{Username: "u1", HasUsername: true}, AccessPublish, "up//t", false},
		{"anonymous %c", Identity{ClientID: "c9"}, AccessPublish, "up/c9/t", true},
		{"anonymous has no %u", Identity{Username: "u1", ClientID: "c9"}, AccessReceive, "down/u1/x", false},
	})
}

// ptFixtureConfig rebuilds the configuration of the Mosquitto 2.0.11
// fixture (testdata/mosquitto/README.md).
func ptFixtureConfig(t *testing.T) *Config {
	t.Helper()
	c := NewConfig(MosquittoDefaultAccess)
	ptRole(c, "admin",
		ptACL(PublishClientSend, "$CONTROL/dynamic-security/#", 0, true),
		ptACL(PublishClientReceive, "$CONTROL/dynamic-security/#", 0, true),
		ptACL(PublishClientReceive, "$SYS/#", 0, true),
		ptACL(PublishClientReceive, "#", 0, true),
		ptACL(SubscribePattern, "$CONTROL/dynamic-security/#", 0, true),
		ptACL(SubscribePattern, "$SYS/#", 0, true),
		ptACL(SubscribePattern, "#", 0, true),
		ptACL(UnsubscribePattern, "#", 0, true))
	ptRole(c, "sensor",
		ptACL(PublishClientSend, "sensors/%c/#", 5, true),
		ptACL(SubscribePattern, "commands/%u/#", 5, true),
		ptACL(PublishClientReceive, "commands/#", 1, true))
	ptRole(c, "operator",
		ptACL(SubscribeLiteral, "sensors/#", 5, true),
		ptACL(PublishClientSend, "commands/#", 5, true),
		ptACL(SubscribeLiteral, "secret/#", 10, false),
		ptACL(UnsubscribePattern, "#", 0, true))
	ptRole(c, "readonly", ptACL(SubscribePattern, "public/#", 1, true))
	ptClient(c, "admin", ptRef("admin", NoPriority)).Password = ptPassword(t, "adminpass")
	alice := ptClient(c, "alice")
	alice.ClientID, alice.Password = "alice-device", ptPassword(t, "alicepass")
	ptClient(c, "bob", ptRef("operator", 3)).Password = ptPassword(t, "bobpass")
	mallory := ptClient(c, "mallory")
	mallory.Disabled, mallory.Password = true, ptPassword(t, "mallorypass")
	ptGroup(c, "devices", ptRef("sensor", 2))
	ptMember(c, "devices", "alice", NoPriority)
	ptGroup(c, "guests", ptRef("readonly", NoPriority))
	c.AnonymousGroup = "guests"
	return c
}

func TestPolicyFixture(t *testing.T) {
	p := NewPolicy(ptFixtureConfig(t))
	alice := Identity{Username: "alice", HasUsername: true, ClientID: "alice-device"}
	aliceOtherID := Identity{Username: "alice", HasUsername: true, ClientID: "x"}
	bob, admin, mallory := ptUser("bob"), ptUser("admin"), ptUser("mallory")
	ptRun(t, p, []ptCheck{
		// alice: group devices -> role sensor. %c/%u are substituted (2.0.11 differs).
		{"alice publish own sensors", alice, AccessPublish, "sensors/alice-device/t", true},
		{"alice publish own sensors parent", alice, AccessPublish, "sensors/alice-device", true},
		{"alice publish literal %c", alice, AccessPublish, "sensors/%c/t", false},
		{"alice publish other sensors", alice, AccessPublish, "sensors/bob-device/t", false},
		{"alice other client id", aliceOtherID, AccessPublish, "sensors/alice-device/t", false},
		{"alice other client id own", aliceOtherID, AccessPublish, "sensors/x/t", true},
		{"alice subscribe own commands", alice, AccessSubscribe, "commands/alice/#", true},
		{"alice subscribe own commands level", alice, AccessSubscribe, "commands/alice", true},
		{"alice subscribe literal %u", alice, AccessSubscribe, "commands/%u/#", false},
		{"alice subscribe bob commands", alice, AccessSubscribe, "commands/bob/#", false},
		{"alice subscribe all commands", alice, AccessSubscribe, "commands/+/#", false},
		{"alice subscribe public", alice, AccessSubscribe, "public/#", false},
		{"alice receive commands", alice, AccessReceive, "commands/x", true},
		{"alice receive default", alice, AccessReceive, "other", true},
		{"alice receive control", alice, AccessReceive, "$CONTROL/dynamic-security/v1/response", false},
		{"alice publish control", alice, AccessPublish, "$CONTROL/dynamic-security/v1", false},
		{"alice unsubscribe default", alice, AccessUnsubscribe, "x/#", true},
		{"alice unsubscribe control", alice, AccessUnsubscribe, "$CONTROL/dynamic-security/#", false},
		// bob: role operator, priority 3.
		{"bob subscribe literal", bob, AccessSubscribe, "sensors/#", true},
		{"bob subscribe under literal", bob, AccessSubscribe, "sensors/a", false},
		{"bob subscribe secret", bob, AccessSubscribe, "secret/#", false},
		{"bob subscribe shared", bob, AccessSubscribe, "$share/g/sensors/#", false},
		{"bob publish commands", bob, AccessPublish, "commands/x", true},
		{"bob publish commands parent", bob, AccessPublish, "commands", true},
		{"bob publish sensors", bob, AccessPublish, "sensors/x", false},
		{"bob unsubscribe pattern", bob, AccessUnsubscribe, "x/y", true},
		{"bob unsubscribe control by #", bob, AccessUnsubscribe, "$CONTROL/dynamic-security/#", true},
		{"bob receive default", bob, AccessReceive, "anything", true},
		// admin: role admin.
		{"admin publish control", admin, AccessPublish, "$CONTROL/dynamic-security/v1", true},
		{"admin subscribe control", admin, AccessSubscribe, "$CONTROL/dynamic-security/#", true},
		{"admin receive control", admin, AccessReceive, "$CONTROL/dynamic-security/v1/response", true},
		{"admin receive $SYS", admin, AccessReceive, "$SYS/broker/uptime", true},
		{"admin subscribe shared", admin, AccessSubscribe, "$share/g/sensors/#", true},
		{"admin publish plain", admin, AccessPublish, "a/b", false},
		// mallory: disabled (Authenticate refuses) and without roles.
		{"mallory receive default", mallory, AccessReceive, "a", true},
		{"mallory publish default", mallory, AccessPublish, "a", false},
		// anonymous: group guests -> role readonly.
		{"anonymous public/#", ptAnon, AccessSubscribe, "public/#", true},
		{"anonymous public", ptAnon, AccessSubscribe, "public", true},
		{"anonymous public/+", ptAnon, AccessSubscribe, "public/+", true},
		{"anonymous public/a/b", ptAnon, AccessSubscribe, "public/a/b", true},
		{"anonymous private", ptAnon, AccessSubscribe, "private/#", false},
		{"anonymous #", ptAnon, AccessSubscribe, "#", false},
		{"anonymous publish", ptAnon, AccessPublish, "public/x", false},
		{"anonymous receive", ptAnon, AccessReceive, "public/x", true},
		// unknown user
		{"eve receive", ptUser("eve"), AccessReceive, "public/x", false},
		{"eve subscribe", ptUser("eve"), AccessSubscribe, "public/#", false},
	})
}

func TestPolicyAuthenticate(t *testing.T) {
	c := ptFixtureConfig(t)
	ptClient(c, "nopass")
	ptClient(c, "nopass-id").ClientID = "fixed"
	ptClient(c, "empty").Password = ptPassword(t, "")
	disabledNoPass := ptClient(c, "disabled-nopass")
	disabledNoPass.Disabled = true
	p := NewPolicy(c)
	alice := Identity{Username: "alice", HasUsername: true, ClientID: "alice-device"}
	id := func(user, clientID string) Identity {
		return Identity{Username: user, HasUsername: true, ClientID: clientID}
	}
	tests := []struct {
		name        string
		id          Identity
		password    string
		hasPassword bool
		want        AuthResult
	}{
		{"no username", Identity{ClientID: "c"}, "alicepass", true, AuthNoDecision},
		{"no username, Username ignored", Identity{Username: "alice", ClientID: "alice-device"}, "alicepass", true, AuthNoDecision},
		{"no password", alice, "", false, AuthNoDecision},
		{"no password, bytes ignored", alice, "alicepass", false, AuthNoDecision},
		{"no password, disabled", id("mallory", "m"), "", false, AuthNoDecision},
		{"unknown user", id("eve", "e"), "x", true, AuthNoDecision},
		{"disabled, right password", id("mallory", "m"), "mallorypass", true, AuthDenied},
		{"disabled, no stored password", id("disabled-nopass", "d"), "x", true, AuthDenied},
		{"client id matches, right password", alice, "alicepass", true, AuthAllowed},
		{"client id matches, wrong password", alice, "bobpass", true, AuthDenied},
		{"client id differs", id("alice", "other"), "alicepass", true, AuthDenied},
		{"client id differs in case", id("alice", "Alice-device"), "alicepass", true, AuthDenied},
		{"client id empty", id("alice", ""), "alicepass", true, AuthDenied},
		{"no client id restriction", id("bob", "anything"), "bobpass", true, AuthAllowed},
		{"wrong password", id("bob", "b"), "alicepass", true, AuthDenied},
		{"empty password presented", id("bob", "b"), "", true, AuthDenied},
		{"password prefix", id("bob", "b"), "bobpas", true, AuthDenied},
		{"stored empty password", id("empty", "e"), "", true, AuthAllowed},
		{"stored empty password, other presented", id("empty", "e"), "x", true, AuthDenied},
		{"no stored password", id("nopass", "n"), "x", true, AuthNoDecision},
		{"no stored password, client id matches", id("nopass-id", "fixed"), "x", true, AuthNoDecision},
		{"no stored password, client id differs", id("nopass-id", "other"), "x", true, AuthDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Authenticate(tt.id, []byte(tt.password), tt.hasPassword); got != tt.want {
				t.Errorf("Authenticate(%+v, %q, %v) = %v, want %v", tt.id, tt.password, tt.hasPassword, got, tt.want)
			}
		})
	}
}

func TestPolicyConfig(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	if got := NewPolicy(c).Config(); got != c {
		t.Errorf("Config() = %p, want %p", got, c)
	}
}

// TestPolicyAllowedNoAlloc guards the publish path: checking must not
// allocate, with or without substitution.
func TestPolicyAllowedNoAlloc(t *testing.T) {
	p := NewPolicy(ptFixtureConfig(t))
	alice := Identity{Username: "alice", HasUsername: true, ClientID: "alice-device"}
	checks := []ptCheck{
		{"publish", alice, AccessPublish, "sensors/alice-device/t", true},
		{"receive", alice, AccessReceive, "commands/x", true},
		{"subscribe", alice, AccessSubscribe, "commands/alice/#", true},
		{"subscribe literal", ptUser("bob"), AccessSubscribe, "sensors/#", true},
		{"unsubscribe default", alice, AccessUnsubscribe, "x/y", true},
	}
	for _, tt := range checks {
		allocs := testing.AllocsPerRun(100, func() {
			if p.Allowed(tt.id, tt.access, tt.topic) != tt.want {
				t.Fatalf("%s: wrong answer", tt.name)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Allowed, want 0", tt.name, allocs)
		}
	}
}

// TestPolicySharedSets: clients whose roles come out in the same order
// share compiled ACLs, and no two different orders may be confused.
func TestPolicySharedSets(t *testing.T) {
	c := NewConfig(DefaultAccess{})
	ptRole(c, "ab", ptACL(PublishClientSend, "t", 0, true))
	ptRole(c, "c", ptACL(PublishClientSend, "t", 0, false))
	ptRole(c, "a", ptACL(PublishClientSend, "t", 0, false))
	ptRole(c, "bc", ptACL(PublishClientSend, "t", 0, true))
	ptClient(c, "u1", ptRef("ab", 2), ptRef("c", 1))
	ptClient(c, "u2", ptRef("a", 2), ptRef("bc", 1))
	ptClient(c, "u3", ptRef("c", 1), ptRef("ab", 2), ptRef("missing", 9))
	ptGroup(c, "") // a group named "" is not the anonymous group: "" means none
	c.Groups[""].Roles = []RoleRef{ptRef("ab", NoPriority)}
	p := NewPolicy(c)
	ptRun(t, p, []ptCheck{
		{"ab then c", ptUser("u1"), AccessPublish, "t", true},
		{"a then bc", ptUser("u2"), AccessPublish, "t", false},
		{"same order", ptUser("u3"), AccessPublish, "t", true},
		{"anonymous", ptAnon, AccessPublish, "t", false},
	})
	if p.clients["u1"].acls != p.clients["u3"].acls {
		t.Error("u1 and u3 have the same role order but separate compiled ACLs")
	}
}
