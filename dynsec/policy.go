package dynsec

import (
	"slices"
	"strconv"
	"strings"
)

// A Policy answers the two questions the broker asks dynamic security:
// may this CONNECT log in (Authenticate, spec §4.5), and may this client
// publish, receive, subscribe or unsubscribe this topic (Allowed, spec
// §4.1-4.3).
//
// Allowed runs for every message published and every message delivered,
// so NewPolicy does the work up front. For each client it flattens the
// roles that apply, in evaluation order (the client's own roles, then
// each group's roles, group by group), into one list per access:
//
//   - publish and receive: every ACL of that type, role after role, each
//     role's in priority order. Within a role and across roles the first
//     matching ACL decides, so one flat list gives the same answer.
//   - subscribe and unsubscribe: one entry per role, holding the role's
//     literal topics as a map and its patterns in priority order. A
//     literal found in a role decides before that role's patterns but
//     after every earlier role, so the roles cannot be merged.
//
// A role met twice in one client's order is kept only the first time:
// if it did not decide then, it cannot decide later. Clients whose roles
// come out in the same order share one compiled list.

// Access is the kind of access Allowed checks.
type Access int

const (
	AccessPublish     Access = iota // publishClientSend: a client publishes
	AccessReceive                   // publishClientReceive: a message is delivered to a client (also retained and queued ones)
	AccessSubscribe                 // subscribeLiteral / subscribePattern
	AccessUnsubscribe               // unsubscribeLiteral / unsubscribePattern
)

// String returns the name Mosquitto's default-access settings use.
func (a Access) String() string {
	switch a {
	case AccessPublish:
		return PublishClientSend
	case AccessReceive:
		return PublishClientReceive
	case AccessSubscribe:
		return "subscribe"
	case AccessUnsubscribe:
		return "unsubscribe"
	}
	return "Access(" + strconv.Itoa(int(a)) + ")"
}

// Identity is who is asking: the session's username, if it gave one, and
// its client id.
type Identity struct {
	Username    string
	HasUsername bool // false: an anonymous client
	ClientID    string
}

// AuthResult is the plugin's answer to a CONNECT.
type AuthResult int

const (
	AuthNoDecision AuthResult = iota // dynsec does not know this login; the broker decides
	AuthAllowed
	AuthDenied
)

func (r AuthResult) String() string {
	switch r {
	case AuthNoDecision:
		return "no decision"
	case AuthAllowed:
		return "allowed"
	case AuthDenied:
		return "denied"
	}
	return "AuthResult(" + strconv.Itoa(int(r)) + ")"
}

// controlPrefix starts every topic the default access never grants
// (spec §4.2), so only an explicit ACL opens the control API.
const controlPrefix = "$CONTROL"

// Policy is a compiled Config. It is immutable once built and safe for
// concurrent use; a changed Config needs a new Policy.
type Policy struct {
	cfg     *Config
	clients map[string]*policyClient // by username
	anon    *aclSet                  // the anonymous group's roles; never nil
}

type policyClient struct {
	client *Client
	acls   *aclSet
}

// aclSet holds one client's ACLs per Access, in evaluation order.
type aclSet struct {
	publish     []pubFilter
	receive     []pubFilter
	subscribe   []roleSubACLs
	unsubscribe []roleSubACLs
}

// roleSubACLs is one role's subscribe (or unsubscribe) ACLs.
type roleSubACLs struct {
	literal  map[string]bool // topic -> allow; nil when the role has none
	patterns []subPattern    // priority order
}

// policyRole is one role compiled, shared by every set that uses it.
type policyRole struct {
	publish, receive []pubFilter
	subscribe, unsub roleSubACLs
	hasSub, hasUnsub bool
}

// NewPolicy compiles c. c must not be modified afterwards (Config
// promises that once it is handed to a Policy). A nil c is an empty
// configuration: no clients, no anonymous group, everything denied.
func NewPolicy(c *Config) *Policy {
	if c == nil {
		c = NewConfig(DefaultAccess{})
	}
	b := policyBuilder{cfg: c, roles: map[string]*policyRole{}, sets: map[string]*aclSet{}}
	p := &Policy{cfg: c, clients: make(map[string]*policyClient, len(c.Clients))}
	groups := memberGroups(c)
	for name, cl := range c.Clients {
		order := SortedRefs(cl.Roles)
		for _, g := range groups[name] {
			order = append(order, SortedRefs(c.Groups[g.Name].Roles)...)
		}
		p.clients[name] = &policyClient{client: cl, acls: b.set(order)}
	}
	p.anon = b.set(nil)
	if g, ok := c.Groups[c.AnonymousGroup]; ok && c.AnonymousGroup != "" {
		p.anon = b.set(SortedRefs(g.Roles))
	}
	return p
}

// memberGroups returns, for every username, its groups in evaluation
// order: the same lists as Config.ClientGroups, built in one pass over
// the groups instead of one pass per client.
func memberGroups(c *Config) map[string][]RoleRef {
	out := map[string][]RoleRef{}
	for name, g := range c.Groups {
		seen := map[string]bool{}
		for _, m := range g.Members {
			if seen[m.Username] { // ClientGroups takes the first entry
				continue
			}
			seen[m.Username] = true
			out[m.Username] = append(out[m.Username], RoleRef{Name: name, Priority: m.Priority})
		}
	}
	for _, refs := range out {
		SortRefs(refs)
	}
	return out
}

// policyBuilder compiles each role once and each distinct role order once.
type policyBuilder struct {
	cfg   *Config
	roles map[string]*policyRole
	sets  map[string]*aclSet // by role order
}

// set returns the compiled ACLs for roles taken in the given order.
// References to roles that do not exist are skipped, as are repeats.
func (b *policyBuilder) set(order []RoleRef) *aclSet {
	var key strings.Builder
	var names []string
	for _, r := range order {
		if _, ok := b.cfg.Roles[r.Name]; !ok || slices.Contains(names, r.Name) {
			continue
		}
		names = append(names, r.Name)
		// Length-prefixed, so no pair of different orders shares a key.
		key.WriteString(strconv.Itoa(len(r.Name)))
		key.WriteByte(':')
		key.WriteString(r.Name)
	}
	if s, ok := b.sets[key.String()]; ok {
		return s
	}
	s := &aclSet{}
	for _, name := range names {
		r := b.role(name)
		s.publish = append(s.publish, r.publish...)
		s.receive = append(s.receive, r.receive...)
		if r.hasSub {
			s.subscribe = append(s.subscribe, r.subscribe)
		}
		if r.hasUnsub {
			s.unsubscribe = append(s.unsubscribe, r.unsub)
		}
	}
	b.sets[key.String()] = s
	return s
}

// role compiles the named role, which must exist.
func (b *policyBuilder) role(name string) *policyRole {
	if r, ok := b.roles[name]; ok {
		return r
	}
	r := &policyRole{}
	for _, a := range SortedACLs(b.cfg.Roles[name].ACLs) {
		switch a.Type {
		case PublishClientSend:
			if f, ok := newPubFilter(a); ok {
				r.publish = append(r.publish, f)
			}
		case PublishClientReceive:
			if f, ok := newPubFilter(a); ok {
				r.receive = append(r.receive, f)
			}
		case SubscribeLiteral:
			addLiteral(&r.subscribe, a)
		case SubscribePattern:
			r.subscribe.patterns = append(r.subscribe.patterns, newSubPattern(a))
		case UnsubscribeLiteral:
			addLiteral(&r.unsub, a)
		case UnsubscribePattern:
			r.unsub.patterns = append(r.unsub.patterns, newSubPattern(a))
		}
	}
	r.hasSub = r.subscribe.literal != nil || len(r.subscribe.patterns) > 0
	r.hasUnsub = r.unsub.literal != nil || len(r.unsub.patterns) > 0
	b.roles[name] = r
	return r
}

// addLiteral records a literal ACL. Of duplicate topics (possible through
// createRole, modifyRole or the file) the first in evaluation order wins:
// Mosquitto picks one by hash-chain order, which spec §4.3 leaves
// uncertain, and this is the rule every other ACL type follows.
func addLiteral(r *roleSubACLs, a ACL) {
	if r.literal == nil {
		r.literal = map[string]bool{}
	}
	if _, dup := r.literal[a.Topic]; !dup {
		r.literal[a.Topic] = a.Allow
	}
}

// Config returns the configuration p was built from. It must not be
// modified.
func (p *Policy) Config() *Config { return p.cfg }

// Authenticate is the plugin's answer to a CONNECT (spec §4.5), checked
// in this order:
//
//  1. no username, or no password: AuthNoDecision;
//  2. a username dynsec does not know: AuthNoDecision;
//  3. a disabled client: AuthDenied (before the client id and password);
//  4. a client id restriction the session's client id is not byte-equal
//     to: AuthDenied;
//  5. a stored password: AuthAllowed if password verifies, else AuthDenied;
//  6. no stored password: AuthNoDecision.
//
// The broker decides what AuthNoDecision means. Mosquitto lets the
// session in only if it has no username and the listener allows
// anonymous clients, and refuses it otherwise, so a user with no stored
// password cannot log in through dynsec.
func (p *Policy) Authenticate(id Identity, password []byte, hasPassword bool) AuthResult {
	if !id.HasUsername || !hasPassword {
		return AuthNoDecision
	}
	pc, ok := p.clients[id.Username]
	if !ok {
		return AuthNoDecision
	}
	c := pc.client
	if c.Disabled {
		return AuthDenied
	}
	if c.ClientID != "" && c.ClientID != id.ClientID {
		return AuthDenied
	}
	if c.Password == nil {
		return AuthNoDecision
	}
	if c.Password.Verify(string(password)) {
		return AuthAllowed
	}
	return AuthDenied
}

// Allowed reports whether id may have access a to topic (spec §4.1-4.3).
// topic is the PUBLISH topic for AccessPublish, the message's topic for
// AccessReceive, and the whole requested filter, "$share/<group>/"
// included, for AccessSubscribe and AccessUnsubscribe.
//
// A client with a username is checked against its own roles in priority
// order, then its groups' roles group by group; an anonymous client
// against the anonymous group's roles. The first ACL that matches
// decides. If none does, the default access for a decides, except that
// it never grants a topic starting with "$CONTROL". A username dynsec
// does not know is always refused: Mosquitto's broker refuses it when the
// plugin has no answer, without the default access.
//
// One deliberate difference from Mosquitto 2.0.11, which compares them as
// text: in publishClientSend, publishClientReceive, subscribePattern and
// unsubscribePattern ACLs, a whole topic level "%c" matches only id's
// client id and "%u" only its username, as in Mosquitto 2.1. Such a level
// never matches when that value is empty or holds '+', '#' or '/' (or,
// for %u, when the client is anonymous). subscribeLiteral and
// unsubscribeLiteral topics are always compared as written.
//
// Allowed does not allocate.
func (p *Policy) Allowed(id Identity, a Access, topic string) bool {
	set := p.anon
	if id.HasUsername {
		c, ok := p.clients[id.Username]
		if !ok {
			return false
		}
		set = c.acls
	}
	var allow, found bool
	switch a {
	case AccessPublish:
		allow, found = checkPublish(set.publish, topic, &id)
	case AccessReceive:
		allow, found = checkPublish(set.receive, topic, &id)
	case AccessSubscribe:
		allow, found = checkSubscribe(set.subscribe, topic, &id)
	case AccessUnsubscribe:
		allow, found = checkSubscribe(set.unsubscribe, topic, &id)
	default:
		return false
	}
	if found {
		return allow
	}
	return p.defaultAccess(a) && !strings.HasPrefix(topic, controlPrefix)
}

func (p *Policy) defaultAccess(a Access) bool {
	d := p.cfg.Default
	switch a {
	case AccessPublish:
		return d.PublishClientSend
	case AccessReceive:
		return d.PublishClientReceive
	case AccessSubscribe:
		return d.Subscribe
	case AccessUnsubscribe:
		return d.Unsubscribe
	}
	return false
}

// checkPublish returns the decision of the first filter matching topic;
// found is false if none does.
func checkPublish(filters []pubFilter, topic string, id *Identity) (allow, found bool) {
	if len(filters) == 0 || !pubTopicValid(topic) {
		return false, false
	}
	var t splitTopic
	t.split(topic)
	for i := range filters {
		if filters[i].matches(&t, id) {
			return filters[i].allow, true
		}
	}
	return false, false
}

// checkSubscribe returns the decision for the subscription filter sub:
// role by role, a literal equal to sub decides, else the first pattern
// covering it; found is false if no role decides.
func checkSubscribe(roles []roleSubACLs, sub string, id *Identity) (allow, found bool) {
	if len(roles) == 0 {
		return false, false
	}
	s := newSubFilter(sub)
	for i := range roles {
		r := &roles[i]
		if allow, ok := r.literal[sub]; ok {
			return allow, true
		}
		for j := range r.patterns {
			if r.patterns[j].covers(&s, id) {
				return r.patterns[j].allow, true
			}
		}
	}
	return false, false
}
