package dynsec

// modifyClient and modifyGroup: absent keys leave a field alone, list
// keys replace the whole list, and values of the wrong type are ignored
// (spec 1.3, 1.4). Deliberate difference (a): Mosquitto 2.0.11 applies
// the fields it reads before "roles" even when "roles" is then refused;
// here a refused command changes nothing.

// ctrlClientPatch is what a modifyClient request changes.
type ctrlClientPatch struct {
	clientID           *string
	password           *Password
	textName, textDesc *string
	roles              []RoleRef
	setRoles           bool
	groups             []RoleRef
	setGroups          bool
}

func ctrlModifyClient(b *ctrlBatch, req *object) ctrlOutcome {
	cfg := b.cfg
	username, errText := ctrlUsername(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	old := cfg.Clients[username]
	if old == nil {
		return ctrlFail("Client not found")
	}
	var p ctrlClientPatch
	// clientid is not UTF-8 checked here, unlike setClientId (as in
	// Mosquitto); "" clears it.
	p.clientID, _ = ctrlOptString(req, "clientid")
	if pw, _ := ctrlOptString(req, "password"); pw != nil && *pw != "" { // "" is ignored
		hashed, err := HashPassword(*pw, b.rnd)
		if err != nil {
			return ctrlInternal(err)
		}
		p.password = hashed
	}
	p.textName, _ = ctrlOptString(req, "textname")
	p.textDesc, _ = ctrlOptString(req, "textdescription")
	p.roles, p.setRoles, errText = ctrlRolesArg(req, cfg, ctrlRolesInvalidText)
	if errText != "" {
		return ctrlFail(errText)
	}
	// Unknown groups are skipped silently, as in Mosquitto 2.0.11.
	p.groups, p.setGroups = ctrlReadLinks(req, "groups", "groupname",
		func(name string) bool { return cfg.Groups[name] != nil })
	if !p.changes(cfg, old) {
		return ctrlNoChange()
	}
	return ctrlChange(func(cfg *Config) { p.apply(cfg, username) }, ctrlKick{users: []string{username}})
}

// changes reports whether p differs from the client as it is.
func (p *ctrlClientPatch) changes(cfg *Config, c *Client) bool {
	return p.password != nil ||
		(p.clientID != nil && *p.clientID != c.ClientID) ||
		ctrlTextChanges(p.textName, c.TextName) ||
		ctrlTextChanges(p.textDesc, c.TextDescription) ||
		(p.setRoles && !ctrlSameRefs(p.roles, c.Roles)) ||
		(p.setGroups && !ctrlSameRefs(p.groups, cfg.ClientGroups(c.Username)))
}

func (p *ctrlClientPatch) apply(cfg *Config, username string) {
	c := cfg.Clients[username]
	if p.clientID != nil {
		c.ClientID = *p.clientID
	}
	if p.password != nil {
		c.Password = p.password
	}
	if p.textName != nil {
		c.TextName = p.textName
	}
	if p.textDesc != nil {
		c.TextDescription = p.textDesc
	}
	if p.setRoles {
		c.Roles = SortedRefs(p.roles)
	}
	if p.setGroups {
		for _, g := range cfg.Groups {
			g.Members = ctrlWithoutMember(g.Members, username)
		}
		for _, l := range p.groups {
			ctrlAddMember(cfg.Groups[l.Name], Member{Username: username, Priority: l.Priority})
		}
	}
}

// ctrlGroupPatch is what a modifyGroup request changes.
type ctrlGroupPatch struct {
	textName, textDesc *string
	roles              []RoleRef
	setRoles           bool
	clients            []RoleRef // Name is the username
	setClients         bool
}

func ctrlModifyGroup(b *ctrlBatch, req *object) ctrlOutcome {
	cfg := b.cfg
	name, errText := ctrlGroupname(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	old := cfg.Groups[name]
	if old == nil {
		return ctrlFail("Group not found")
	}
	var p ctrlGroupPatch
	p.textName, _ = ctrlOptString(req, "textname")
	p.textDesc, _ = ctrlOptString(req, "textdescription")
	p.roles, p.setRoles, errText = ctrlRolesArg(req, cfg, ctrlRolesInvalidText)
	if errText != "" {
		return ctrlFail(errText)
	}
	// Unknown usernames are skipped silently, as in Mosquitto.
	p.clients, p.setClients = ctrlReadLinks(req, "clients", "username",
		func(u string) bool { return cfg.Clients[u] != nil })
	if !p.changes(old) {
		return ctrlNoChange()
	}
	kick := ctrlGroupKick(cfg, name)
	// Deliberate difference (i): members that "clients" removes lose the
	// group's roles, so they are kicked too.
	for _, l := range p.clients {
		kick.users = append(kick.users, l.Name)
	}
	return ctrlChange(func(cfg *Config) { p.apply(cfg, name) }, kick)
}

func (p *ctrlGroupPatch) changes(g *Group) bool {
	return ctrlTextChanges(p.textName, g.TextName) ||
		ctrlTextChanges(p.textDesc, g.TextDescription) ||
		(p.setRoles && !ctrlSameRefs(p.roles, g.Roles)) ||
		(p.setClients && !ctrlSameRefs(p.clients, ctrlMemberRefs(g.Members)))
}

func (p *ctrlGroupPatch) apply(cfg *Config, name string) {
	g := cfg.Groups[name]
	if p.textName != nil {
		g.TextName = p.textName
	}
	if p.textDesc != nil {
		g.TextDescription = p.textDesc
	}
	if p.setRoles {
		g.Roles = SortedRefs(p.roles)
	}
	if p.setClients {
		g.Members = nil
		for _, l := range p.clients {
			ctrlAddMember(g, Member{Username: l.Name, Priority: l.Priority})
		}
	}
}

// ctrlReadLinks reads modifyClient's "groups" or modifyGroup's
// "clients": an array of {nameKey: string, "priority": int}. Elements
// that are not such objects, names exists refuses and repeats (the first
// wins) are skipped. set is false when key is absent or not an array.
func ctrlReadLinks(req *object, key, nameKey string, exists func(string) bool) (links []RoleRef, set bool) {
	arr, ok := req.getArray(key)
	if !ok {
		return nil, false
	}
	links = []RoleRef{}
	for _, el := range arr {
		eo, _ := el.(*object)
		name, ok := ctrlString(eo, nameKey)
		if !ok || !exists(name) || ctrlHasRef(links, name) {
			continue
		}
		links = append(links, RoleRef{Name: name, Priority: eo.getInt("priority", NoPriority)})
	}
	return links, true
}

// ctrlTextChanges reports whether setting a text field to v (nil: leave
// it) changes cur.
func ctrlTextChanges(v, cur *string) bool {
	return v != nil && (cur == nil || *cur != *v)
}
