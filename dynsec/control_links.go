package dynsec

import (
	"slices"
	"strings"
)

// Links between clients, groups and roles, and whom a change to them
// disconnects. The model keeps each link once (on the client or the
// group) and no back-references, so these helpers search instead; that
// is what keeps deleteRole and the kick sets consistent (difference (c)).

// ctrlHasRef reports whether refs links to name.
func ctrlHasRef(refs []RoleRef, name string) bool {
	for _, r := range refs {
		if r.Name == name {
			return true
		}
	}
	return false
}

// ctrlWithoutRef removes the link to name, in place.
func ctrlWithoutRef(refs []RoleRef, name string) []RoleRef {
	return slices.DeleteFunc(refs, func(r RoleRef) bool { return r.Name == name })
}

// ctrlSameRefs reports whether two link lists hold the same names with
// the same priorities, whatever their order.
func ctrlSameRefs(a, b []RoleRef) bool {
	return slices.Equal(SortedRefs(a), SortedRefs(b))
}

// ctrlMemberships returns every client's group links in evaluation
// order, in one pass over the groups (Config.ClientGroups per client
// would be quadratic for a verbose listing).
func ctrlMemberships(cfg *Config) map[string][]RoleRef {
	out := map[string][]RoleRef{}
	for name, g := range cfg.Groups {
		for _, m := range g.Members {
			if !ctrlHasRef(out[m.Username], name) {
				out[m.Username] = append(out[m.Username], RoleRef{Name: name, Priority: m.Priority})
			}
		}
	}
	for _, refs := range out {
		SortRefs(refs)
	}
	return out
}

// ctrlMemberNames returns a group's usernames in byte order, each once.
func ctrlMemberNames(g *Group) []string {
	names := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		names = append(names, m.Username)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// ctrlMemberRefs returns members as links, for comparing member lists.
func ctrlMemberRefs(members []Member) []RoleRef {
	out := make([]RoleRef, 0, len(members))
	for _, m := range members {
		out = append(out, RoleRef{Name: m.Username, Priority: m.Priority})
	}
	return out
}

// ctrlIsMember reports whether username is a member of g.
func ctrlIsMember(g *Group, username string) bool {
	return slices.ContainsFunc(g.Members, func(m Member) bool { return m.Username == username })
}

// ctrlAddMember adds m to g, keeping the members sorted by username as
// Load leaves them (only for tidiness: every reader sorts for itself).
func ctrlAddMember(g *Group, m Member) {
	i, _ := slices.BinarySearchFunc(g.Members, m.Username, func(e Member, u string) int { return strings.Compare(e.Username, u) })
	g.Members = slices.Insert(g.Members, i, m)
}

// ctrlWithoutMember removes username from a member list, in place.
func ctrlWithoutMember(members []Member, username string) []Member {
	return slices.DeleteFunc(members, func(m Member) bool { return m.Username == username })
}

// ctrlIsAnonGroup reports whether name is cfg's anonymous group. The
// model spells "no anonymous group" as "", so a group named "" can never
// be it.
func ctrlIsAnonGroup(cfg *Config, name string) bool {
	return cfg.AnonymousGroup != "" && cfg.AnonymousGroup == name
}

// ctrlGroupKick is whom a change to group name disconnects: its members,
// plus every anonymous session when it is the anonymous group.
func ctrlGroupKick(cfg *Config, name string) ctrlKick {
	k := ctrlKick{anon: ctrlIsAnonGroup(cfg, name)}
	if g := cfg.Groups[name]; g != nil {
		for _, m := range g.Members {
			k.users = append(k.users, m.Username)
		}
	}
	return k
}

// ctrlRoleKick is whom a change to role name disconnects: the clients
// holding it directly and the members of every group holding it (plus
// anonymous sessions when the anonymous group holds it). The model keeps
// no back-references, so this set cannot go stale (difference (c)).
func ctrlRoleKick(cfg *Config, name string) ctrlKick {
	var k ctrlKick
	for u, c := range cfg.Clients {
		if ctrlHasRef(c.Roles, name) {
			k.users = append(k.users, u)
		}
	}
	for gname, g := range cfg.Groups {
		if ctrlHasRef(g.Roles, name) {
			gk := ctrlGroupKick(cfg, gname)
			k.users = append(k.users, gk.users...)
			k.anon = k.anon || gk.anon
		}
	}
	return k
}
