package dynsec

import "slices"

// The role commands (spec 1.4 "Roles"), checked and applied as the
// client commands are (see control_clients.go).

func ctrlListRoles(b *ctrlBatch, req *object) ctrlOutcome {
	cfg := b.cfg
	return ctrlList(req, "roles", cfg.RoleNames(), func(w *ctrlWriter, name string) {
		ctrlWriteRole(w, cfg.Roles[name])
	})
}

func ctrlGetRole(b *ctrlBatch, req *object) ctrlOutcome {
	name, errText := ctrlRolename(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	r := b.cfg.Roles[name]
	if r == nil {
		return ctrlFail("Role not found")
	}
	return ctrlData(func(w *ctrlWriter) {
		w.open('{')
		w.key("role")
		ctrlWriteRole(w, r)
		w.close('}')
	})
}

// ctrlCreateRole takes "acls" without validating them (see ctrlReadACLs).
func ctrlCreateRole(b *ctrlBatch, req *object) ctrlOutcome {
	name, errText := ctrlRolename(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	textName, textDesc, errText := ctrlTexts(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if b.cfg.Roles[name] != nil {
		return ctrlFail("Role already exists")
	}
	acls, _ := ctrlReadACLs(req)
	r := &Role{Name: name, TextName: textName, TextDescription: textDesc, ACLs: acls}
	// Nobody holds a new role: nobody to kick.
	return ctrlChange(func(cfg *Config) { cfg.Roles[name] = r }, ctrlKick{})
}

// ctrlDeleteRole removes the role from every client and group holding it
// and kicks them all (difference (c): Mosquitto 2.0.11 misses holders
// linked by createClient/createGroup/modifyGroup and leaves them a
// dangling link).
func ctrlDeleteRole(b *ctrlBatch, req *object) ctrlOutcome {
	name, errText := ctrlRolename(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if b.cfg.Roles[name] == nil {
		return ctrlFail("Role not found")
	}
	return ctrlChange(func(cfg *Config) {
		for _, c := range cfg.Clients {
			c.Roles = ctrlWithoutRef(c.Roles, name)
		}
		for _, g := range cfg.Groups {
			g.Roles = ctrlWithoutRef(g.Roles, name)
		}
		delete(cfg.Roles, name)
	}, ctrlRoleKick(b.cfg, name))
}

// ctrlModifyRole kicks nobody, even when the ACLs change, as Mosquitto
// 2.0.11 (spec 3.1): existing subscriptions survive, and every message
// is still checked against the new ACLs.
func ctrlModifyRole(b *ctrlBatch, req *object) ctrlOutcome {
	name, errText := ctrlRolename(req)
	if errText != "" {
		return ctrlFail(errText)
	}
	r := b.cfg.Roles[name]
	if r == nil {
		return ctrlFail("Role does not exist") // not "Role not found"
	}
	textName, _ := ctrlOptString(req, "textname")
	textDesc, _ := ctrlOptString(req, "textdescription")
	acls, setACLs := ctrlReadACLs(req)
	if !ctrlTextChanges(textName, r.TextName) && !ctrlTextChanges(textDesc, r.TextDescription) &&
		(!setACLs || slices.Equal(acls, r.ACLs)) {
		return ctrlNoChange()
	}
	return ctrlChange(func(cfg *Config) {
		r := cfg.Roles[name]
		if textName != nil {
			r.TextName = textName
		}
		if textDesc != nil {
			r.TextDescription = textDesc
		}
		if setACLs {
			r.ACLs = acls
		}
	}, ctrlKick{})
}

// ctrlRoleACLArgs runs the checks addRoleACL and removeRoleACL share,
// returning the role name, the canonical ACL type and the topic.
func ctrlRoleACLArgs(b *ctrlBatch, req *object) (rolename, acltype, topic, errText string) {
	if rolename, errText = ctrlRolename(req); errText != "" {
		return "", "", "", errText
	}
	if b.cfg.Roles[rolename] == nil {
		return "", "", "", "Role not found"
	}
	typ, ok := ctrlString(req, "acltype")
	if !ok {
		return "", "", "", "Invalid/missing acltype"
	}
	// Only the six role types: "subscribe"/"unsubscribe" are default-access
	// types and unknown here.
	if acltype, ok = canonicalACLType(typ); !ok {
		return "", "", "", "Unknown acltype"
	}
	topic, ok = ctrlString(req, "topic")
	switch {
	case !ok:
		return "", "", "", "Invalid/missing topic"
	case !ctrlValidUTF8(topic):
		return "", "", "", "Topic not valid UTF-8"
	case !ctrlValidSubFilter(topic):
		return "", "", "", "Invalid ACL topic"
	}
	return rolename, acltype, topic, ""
}

func ctrlAddRoleACL(b *ctrlBatch, req *object) ctrlOutcome {
	rolename, acltype, topic, errText := ctrlRoleACLArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	if ctrlFindACL(b.cfg.Roles[rolename].ACLs, acltype, topic) >= 0 {
		// Same type and byte-identical topic; priority and allow do not matter.
		return ctrlFail("ACL with this topic already exists")
	}
	acl := ACL{Type: acltype, Topic: topic, Priority: req.getInt("priority", 0), Allow: req.getBool("allow", false)}
	return ctrlChange(func(cfg *Config) {
		r := cfg.Roles[rolename]
		r.ACLs = append(r.ACLs, acl)
	}, ctrlRoleKick(b.cfg, rolename))
}

// ctrlRemoveRoleACL removes one ACL of the type with exactly that topic.
// Only createRole, modifyRole and a file can make duplicates; which one
// Mosquitto removes then depends on its hash chain, here it is the
// earliest added.
func ctrlRemoveRoleACL(b *ctrlBatch, req *object) ctrlOutcome {
	rolename, acltype, topic, errText := ctrlRoleACLArgs(b, req)
	if errText != "" {
		return ctrlFail(errText)
	}
	i := ctrlFindACL(b.cfg.Roles[rolename].ACLs, acltype, topic)
	if i < 0 {
		return ctrlFail("ACL not found")
	}
	return ctrlChange(func(cfg *Config) {
		r := cfg.Roles[rolename]
		r.ACLs = slices.Delete(r.ACLs, i, i+1)
	}, ctrlRoleKick(b.cfg, rolename))
}

// ctrlFindACL returns the index of the first ACL of type acltype whose
// topic is byte-identical to topic, or -1.
func ctrlFindACL(acls []ACL, acltype, topic string) int {
	return slices.IndexFunc(acls, func(a ACL) bool { return a.Type == acltype && a.Topic == topic })
}
