package dynsec

import (
	"cmp"
	"maps"
	"slices"
)

// The ACL types of Mosquitto's dynamic security, as they are spelled in
// its file and control API.
const (
	PublishClientSend    = "publishClientSend"
	PublishClientReceive = "publishClientReceive"
	SubscribeLiteral     = "subscribeLiteral"
	SubscribePattern     = "subscribePattern"
	UnsubscribeLiteral   = "unsubscribeLiteral"
	UnsubscribePattern   = "unsubscribePattern"
)

// ACLTypes lists the ACL types in the order Mosquitto groups them when it
// lists a role's ACLs.
var ACLTypes = []string{PublishClientSend, PublishClientReceive, SubscribeLiteral,
	SubscribePattern, UnsubscribeLiteral, UnsubscribePattern}

// NoPriority is the priority of a role or group link given without one;
// Mosquitto omits it from its JSON.
const NoPriority = -1

// ACL is one entry of a role. Priority orders the role's entries of one
// type, highest first; entries of equal priority keep their insertion
// order.
type ACL struct {
	Type     string // one of ACLTypes
	Topic    string
	Priority int
	Allow    bool
}

// RoleRef links a client or a group to a role.
type RoleRef struct {
	Name     string
	Priority int // NoPriority when not given
}

// Member links a client to a group, with the group's priority for that
// client.
type Member struct {
	Username string
	Priority int // NoPriority when not given
}

// Password is a PBKDF2-SHA512 hash as Mosquitto stores it.
type Password struct {
	Hash       []byte // 64 bytes
	Salt       []byte // 12 bytes when made here; any length when imported
	Iterations int
}

// Client is a dynsec client (an MQTT username). Its groups are recorded on
// the groups (Group.Members), as in Mosquitto's file.
type Client struct {
	Username        string
	ClientID        string  // "" when not restricted
	TextName        *string // nil when not set ("" is a value)
	TextDescription *string
	Disabled        bool
	Roles           []RoleRef
	Password        *Password // nil: the client cannot log in
}

// Group is a dynsec group.
type Group struct {
	Name            string
	TextName        *string
	TextDescription *string
	Roles           []RoleRef
	Members         []Member
}

// Role is a dynsec role: a list of ACLs.
type Role struct {
	Name            string
	TextName        *string
	TextDescription *string
	ACLs            []ACL // in insertion order
}

// DefaultAccess is what applies when no ACL of a client's roles matches.
type DefaultAccess struct {
	PublishClientSend    bool
	PublishClientReceive bool
	Subscribe            bool
	Unsubscribe          bool
}

// MosquittoDefaultAccess is the default access `mosquitto_ctrl dynsec
// init` writes.
var MosquittoDefaultAccess = DefaultAccess{PublishClientReceive: true, Unsubscribe: true}

// Config is the whole dynamic-security state. A Config that has been
// handed to a Policy or published is never modified again: changes are
// made on a Clone.
type Config struct {
	Default        DefaultAccess
	Clients        map[string]*Client // by username
	Groups         map[string]*Group  // by name
	Roles          map[string]*Role   // by name
	AnonymousGroup string             // "" when none
}

// NewConfig returns an empty configuration with the given default access.
func NewConfig(def DefaultAccess) *Config {
	return &Config{Default: def, Clients: map[string]*Client{}, Groups: map[string]*Group{}, Roles: map[string]*Role{}}
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := &Config{Default: c.Default, AnonymousGroup: c.AnonymousGroup,
		Clients: make(map[string]*Client, len(c.Clients)),
		Groups:  make(map[string]*Group, len(c.Groups)),
		Roles:   make(map[string]*Role, len(c.Roles))}
	for k, v := range c.Clients {
		cl := *v
		cl.TextName, cl.TextDescription = cloneStr(v.TextName), cloneStr(v.TextDescription)
		cl.Roles = slices.Clone(v.Roles)
		if v.Password != nil {
			p := Password{Hash: slices.Clone(v.Password.Hash), Salt: slices.Clone(v.Password.Salt), Iterations: v.Password.Iterations}
			cl.Password = &p
		}
		n.Clients[k] = &cl
	}
	for k, v := range c.Groups {
		g := *v
		g.TextName, g.TextDescription = cloneStr(v.TextName), cloneStr(v.TextDescription)
		g.Roles, g.Members = slices.Clone(v.Roles), slices.Clone(v.Members)
		n.Groups[k] = &g
	}
	for k, v := range c.Roles {
		r := *v
		r.TextName, r.TextDescription = cloneStr(v.TextName), cloneStr(v.TextDescription)
		r.ACLs = slices.Clone(v.ACLs)
		n.Roles[k] = &r
	}
	return n
}

func cloneStr(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

// ClientNames returns the usernames in byte order, as Mosquitto lists them.
func (c *Config) ClientNames() []string { return slices.Sorted(maps.Keys(c.Clients)) }

// GroupNames returns the group names in byte order.
func (c *Config) GroupNames() []string { return slices.Sorted(maps.Keys(c.Groups)) }

// RoleNames returns the role names in byte order.
func (c *Config) RoleNames() []string { return slices.Sorted(maps.Keys(c.Roles)) }

// ClientGroups returns the groups username belongs to, with the group's
// priority for it, in evaluation order: priority descending, then name.
func (c *Config) ClientGroups(username string) []RoleRef {
	var out []RoleRef
	for name, g := range c.Groups {
		for _, m := range g.Members {
			if m.Username == username {
				out = append(out, RoleRef{Name: name, Priority: m.Priority})
				break
			}
		}
	}
	SortRefs(out)
	return out
}

// SortRefs sorts role or group links into evaluation order: priority
// descending, then name in byte order.
func SortRefs(refs []RoleRef) {
	slices.SortStableFunc(refs, func(a, b RoleRef) int {
		if a.Priority != b.Priority {
			return cmp.Compare(b.Priority, a.Priority)
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

// SortedRefs returns a sorted copy of refs (see SortRefs).
func SortedRefs(refs []RoleRef) []RoleRef {
	out := slices.Clone(refs)
	SortRefs(out)
	return out
}

// SortedACLs returns a role's ACLs in the order Mosquitto evaluates and
// lists them: grouped by type in ACLTypes order, each type by priority
// descending, ties in insertion order.
func SortedACLs(acls []ACL) []ACL {
	out := make([]ACL, 0, len(acls))
	for _, t := range ACLTypes {
		start := len(out)
		for _, a := range acls {
			if a.Type == t {
				out = append(out, a)
			}
		}
		slices.SortStableFunc(out[start:], func(a, b ACL) int { return cmp.Compare(b.Priority, a.Priority) })
	}
	return out
}

// canonicalACLType returns the ACL type spelled as Mosquitto spells it,
// matching s case-insensitively; ok is false for an unknown type.
func canonicalACLType(s string) (string, bool) {
	for _, t := range ACLTypes {
		if equalFold(s, t) {
			return t, true
		}
	}
	return "", false
}

// equalFold compares ASCII case-insensitively, as cJSON's key lookup does.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
