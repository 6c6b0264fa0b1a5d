package dynsec

// The group commands (spec 1.4 "Groups"), checked and applied as the
// client commands are (see control_clients.go). modifyGroup is in
// control_modify.go.

func ctrlListGroups(b *ctrlBatch, req *object) ctrlOutcome {
	cfg := b.cfg
	return ctrlList(req, "groups", cfg.GroupNames(), func(w *ctrlWriter, name string) {
		ctrlWriteGroup(w, cfg.Groups[name])
	})
}

func ctrlGetGroup(b *ctrlBatch, req *object) ctrlOutcome {
	name, errText := ctrlGroupname(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	g := b.cfg.Groups[name]
	if g == nil {
		return ctrlFail("Group not found")
	}
	return ctrlData(func(w *ctrlWriter) {
		w.open('{')
		w.key("group")
		ctrlWriteGroup(w, g)
		w.close('}')
	})
}

// ctrlCreateGroup ignores a "clients" key, as Mosquitto does.
func ctrlCreateGroup(b *ctrlBatch, req *object) ctrlOutcome {
	name, errText := ctrlGroupname(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	textName, textDesc, errText := ctrlTexts(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if b.cfg.Groups[name] != nil {
		return ctrlFail("Group already exists")
	}
	roles, _, errText := ctrlRolesArg(req, b.cfg, "Internal error") // createGroup's word for a bad "roles" (verified)
	if errText != "" {
		return ctrlFail(errText)
	}
	g := &Group{Name: name, TextName: textName, TextDescription: textDesc, Roles: SortedRefs(roles)}
	// A new group has no members: nobody to kick.
	return ctrlChange(func(cfg *Config) { cfg.Groups[name] = g }, ctrlKick{})
}

func ctrlDeleteGroup(b *ctrlBatch, req *object) ctrlOutcome {
	name, errText := ctrlGroupname(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	switch {
	case b.cfg.Groups[name] == nil:
		return ctrlFail("Group not found")
	case ctrlIsAnonGroup(b.cfg, name):
		// Deliberate difference (d): 2.0.11 leaves a dangling pointer and
		// crashes; 2.0.15 refuses with this answer.
		return ctrlFail("Deleting the anonymous group is forbidden")
	}
	return ctrlChange(func(cfg *Config) { delete(cfg.Groups, name) }, ctrlGroupKick(b.cfg, name))
}

// ctrlGroupClientArgs runs the checks addGroupClient and
// removeGroupClient share (the client is looked up before the group).
func ctrlGroupClientArgs(b *ctrlBatch, req *object) (username, groupname, errText string) {
	if username, errText = ctrlUsername(req); errText != "" {
		return "", "", errText
	}
	if groupname, errText = ctrlGroupname(req); errText != "" {
		return "", "", errText
	}
	switch {
	case b.cfg.Clients[username] == nil:
		return "", "", "Client not found"
	case b.cfg.Groups[groupname] == nil:
		return "", "", "Group not found"
	}
	return username, groupname, ""
}

func ctrlAddGroupClient(b *ctrlBatch, req *object) ctrlOutcome {
	username, groupname, errText := ctrlGroupClientArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if ctrlIsMember(b.cfg.Groups[groupname], username) {
		return ctrlFail("Client is already in this group") // the priority is not changed
	}
	m := Member{Username: username, Priority: req.getInt("priority", NoPriority)}
	return ctrlChange(func(cfg *Config) { ctrlAddMember(cfg.Groups[groupname], m) },
		ctrlKick{users: []string{username}})
}

// ctrlRemoveGroupClient succeeds even when the client is not a member.
func ctrlRemoveGroupClient(b *ctrlBatch, req *object) ctrlOutcome {
	username, groupname, errText := ctrlGroupClientArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if !ctrlIsMember(b.cfg.Groups[groupname], username) {
		return ctrlNoChange()
	}
	return ctrlChange(func(cfg *Config) {
		g := cfg.Groups[groupname]
		g.Members = ctrlWithoutMember(g.Members, username)
	}, ctrlKick{users: []string{username}})
}

// ctrlGroupRoleArgs runs the checks addGroupRole and removeGroupRole
// share.
func ctrlGroupRoleArgs(b *ctrlBatch, req *object) (groupname, rolename, errText string) {
	if groupname, errText = ctrlGroupname(req); errText != "" {
		return "", "", errText
	}
	if rolename, errText = ctrlRolename(req); errText != "" {
		return "", "", errText
	}
	switch {
	case b.cfg.Groups[groupname] == nil:
		return "", "", "Group not found"
	case b.cfg.Roles[rolename] == nil:
		return "", "", "Role not found"
	}
	return groupname, rolename, ""
}

func ctrlAddGroupRole(b *ctrlBatch, req *object) ctrlOutcome {
	groupname, rolename, errText := ctrlGroupRoleArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if ctrlHasRef(b.cfg.Groups[groupname].Roles, rolename) {
		return ctrlFail("Group is already in this role")
	}
	ref := RoleRef{Name: rolename, Priority: req.getInt("priority", NoPriority)}
	return ctrlChange(func(cfg *Config) {
		g := cfg.Groups[groupname]
		g.Roles = append(g.Roles, ref)
		SortRefs(g.Roles)
	}, ctrlGroupKick(b.cfg, groupname))
}

// ctrlRemoveGroupRole succeeds even when the group lacks the role.
func ctrlRemoveGroupRole(b *ctrlBatch, req *object) ctrlOutcome {
	groupname, rolename, errText := ctrlGroupRoleArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if !ctrlHasRef(b.cfg.Groups[groupname].Roles, rolename) {
		return ctrlNoChange()
	}
	return ctrlChange(func(cfg *Config) {
		g := cfg.Groups[groupname]
		g.Roles = ctrlWithoutRef(g.Roles, rolename)
	}, ctrlGroupKick(b.cfg, groupname))
}
