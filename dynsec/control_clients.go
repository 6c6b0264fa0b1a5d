package dynsec

// The client commands (spec 1.4 "Clients"). Each handler runs
// Mosquitto's checks in Mosquitto's order against b.cfg without changing
// it, then returns the change as an apply function (see ctrlOutcome).
// modifyClient is in control_modify.go.

func ctrlListClients(b *ctrlBatch, req *object) ctrlOutcome {
	cfg := b.cfg
	var groups map[string][]RoleRef // built once, and only for a verbose list
	return ctrlList(req, "clients", cfg.ClientNames(), func(w *ctrlWriter, name string) {
		if groups == nil {
			groups = ctrlMemberships(cfg) // never nil
		}
		ctrlWriteClient(w, cfg.Clients[name], groups[name])
	})
}

func ctrlGetClient(b *ctrlBatch, req *object) ctrlOutcome {
	username, errText := ctrlUsername(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	c := b.cfg.Clients[username]
	if c == nil {
		return ctrlFail("Client not found")
	}
	groups := b.cfg.ClientGroups(username)
	return ctrlData(func(w *ctrlWriter) {
		w.open('{')
		w.key("client")
		ctrlWriteClient(w, c, groups)
		w.close('}')
	})
}

func ctrlCreateClient(b *ctrlBatch, req *object) ctrlOutcome {
	cfg := b.cfg
	username, errText := ctrlUsername(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	password, bad := ctrlOptString(req, "password")
	if bad {
		return ctrlFail("Invalid/missing password")
	}
	clientID, bad := ctrlOptString(req, "clientid")
	if bad {
		return ctrlFail("Invalid/missing client id") // lower-case "id", unlike setClientId
	}
	if clientID != nil && !ctrlValidUTF8(*clientID) {
		return ctrlFail("Client ID not valid UTF-8")
	}
	textName, textDesc, errText := ctrlTexts(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if cfg.Clients[username] != nil {
		return ctrlFail("Client already exists")
	}
	c := &Client{Username: username, TextName: textName, TextDescription: textDesc}
	if clientID != nil {
		c.ClientID = *clientID // "" means no restriction
	}
	if password != nil { // "" too: an empty password is a valid stored password
		pw, err := HashPassword(*password, b.rnd)
		if err != nil {
			return ctrlInternal(err)
		}
		c.Password = pw
	}
	roles, _, errText := ctrlRolesArg(req, cfg, ctrlRolesInvalidText)
	if errText != "" {
		return ctrlFail(errText)
	}
	c.Roles = SortedRefs(roles)
	groups, errText := ctrlCreateClientGroups(req, cfg)
	if errText != "" {
		return ctrlFail(errText)
	}
	// Creating a client gives no connected session new rights: no kick.
	return ctrlChange(func(cfg *Config) {
		cfg.Clients[username] = c
		for _, g := range groups {
			ctrlAddMember(cfg.Groups[g.Name], Member{Username: username, Priority: g.Priority})
		}
	}, ctrlKick{})
}

// ctrlCreateClientGroups reads createClient's "groups": elements that are
// not objects with a string groupname are skipped; an unknown group
// refuses the command. A group listed twice answers "Internal error",
// because the plugin's add-to-group fails "already exists" on the second
// and createClient reports any failure but "not found" that way (from the
// 2.0.x source; not verified live).
func ctrlCreateClientGroups(req *object, cfg *Config) ([]RoleRef, string) {
	arr, _ := req.getArray("groups")
	var groups []RoleRef
	for _, el := range arr {
		eo, _ := el.(*object)
		name, ok := ctrlString(eo, "groupname")
		if !ok {
			continue
		}
		switch {
		case cfg.Groups[name] == nil:
			return nil, "Group not found"
		case ctrlHasRef(groups, name):
			return nil, "Internal error"
		}
		groups = append(groups, RoleRef{Name: name, Priority: eo.getInt("priority", NoPriority)})
	}
	return groups, ""
}

func ctrlDeleteClient(b *ctrlBatch, req *object) ctrlOutcome {
	username, ok := ctrlString(req, "username") // no UTF-8 check here, as in Mosquitto
	if !ok {
		return ctrlFail("Invalid/missing username")
	}
	if b.cfg.Clients[username] == nil {
		return ctrlFail("Client not found")
	}
	return ctrlChange(func(cfg *Config) {
		delete(cfg.Clients, username)
		for _, g := range cfg.Groups {
			g.Members = ctrlWithoutMember(g.Members, username)
		}
	}, ctrlKick{users: []string{username}})
}

func ctrlSetClientPassword(b *ctrlBatch, req *object) ctrlOutcome {
	username, errText := ctrlUsername(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	password, ok := ctrlString(req, "password")
	switch {
	case !ok:
		return ctrlFail("Invalid/missing password")
	case password == "":
		return ctrlFail("Empty password is not allowed")
	case b.cfg.Clients[username] == nil:
		return ctrlFail("Client not found")
	}
	pw, err := HashPassword(password, b.rnd)
	if err != nil {
		return ctrlInternal(err)
	}
	return ctrlChange(func(cfg *Config) { cfg.Clients[username].Password = pw },
		ctrlKick{users: []string{username}})
}

func ctrlSetClientID(b *ctrlBatch, req *object) ctrlOutcome {
	username, errText := ctrlUsername(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	clientID, bad := ctrlOptString(req, "clientid")
	if bad {
		return ctrlFail("Invalid/missing client ID") // capital "ID", unlike createClient
	}
	id := ""
	if clientID != nil {
		if !ctrlValidUTF8(*clientID) {
			return ctrlFail("Client ID not valid UTF-8")
		}
		id = *clientID
	}
	c := b.cfg.Clients[username]
	switch {
	case c == nil:
		return ctrlFail("Client not found")
	case c.ClientID == id:
		return ctrlNoChange()
	}
	return ctrlChange(func(cfg *Config) { cfg.Clients[username].ClientID = id },
		ctrlKick{users: []string{username}})
}

func ctrlEnableClient(b *ctrlBatch, req *object) ctrlOutcome { return ctrlSetDisabled(b, req, false) }

func ctrlDisableClient(b *ctrlBatch, req *object) ctrlOutcome { return ctrlSetDisabled(b, req, true) }

// ctrlSetDisabled enables or disables a client; both are idempotent.
// Disabling kicks the client; enabling lets it log in again and kicks
// nobody.
func ctrlSetDisabled(b *ctrlBatch, req *object, disabled bool) ctrlOutcome {
	username, errText := ctrlUsername(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	c := b.cfg.Clients[username]
	switch {
	case c == nil:
		return ctrlFail("Client not found")
	case c.Disabled == disabled:
		return ctrlNoChange()
	}
	var kick ctrlKick
	if disabled {
		kick.users = []string{username}
	}
	return ctrlChange(func(cfg *Config) { cfg.Clients[username].Disabled = disabled }, kick)
}

// ctrlClientRoleArgs runs the checks addClientRole and removeClientRole
// share and returns the client and role names.
func ctrlClientRoleArgs(b *ctrlBatch, req *object) (username, rolename, errText string) {
	if username, errText = ctrlUsername(req); errText != "" {
		return "", "", errText
	}
	if rolename, errText = ctrlRolename(req); errText != "" {
		return "", "", errText
	}
	switch {
	case b.cfg.Clients[username] == nil:
		return "", "", "Client not found"
	case b.cfg.Roles[rolename] == nil:
		return "", "", "Role not found"
	}
	return username, rolename, ""
}

func ctrlAddClientRole(b *ctrlBatch, req *object) ctrlOutcome {
	username, rolename, errText := ctrlClientRoleArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if ctrlHasRef(b.cfg.Clients[username].Roles, rolename) {
		// Mosquitto's answer when the client already has the role; the
		// priority is not changed.
		return ctrlFail("Internal error")
	}
	ref := RoleRef{Name: rolename, Priority: req.getInt("priority", NoPriority)}
	return ctrlChange(func(cfg *Config) {
		c := cfg.Clients[username]
		c.Roles = append(c.Roles, ref)
		SortRefs(c.Roles)
	}, ctrlKick{users: []string{username}})
}

// ctrlRemoveClientRole succeeds even when the client lacks the role.
func ctrlRemoveClientRole(b *ctrlBatch, req *object) ctrlOutcome {
	username, rolename, errText := ctrlClientRoleArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if !ctrlHasRef(b.cfg.Clients[username].Roles, rolename) {
		return ctrlNoChange()
	}
	return ctrlChange(func(cfg *Config) {
		c := cfg.Clients[username]
		c.Roles = ctrlWithoutRef(c.Roles, rolename)
	}, ctrlKick{users: []string{username}})
}
