package dynsec

// The client, group and role objects of get* and verbose list* responses
// (spec 1.4, 2), with keys in Mosquitto's order and optional keys only
// when Mosquitto writes them.

// ctrlWriteClient writes a client object; groups are its group links in
// evaluation order (Config.ClientGroups).
func ctrlWriteClient(w *ctrlWriter, c *Client, groups []RoleRef) {
	w.open('{')
	w.fieldStr("username", c.Username)
	if c.ClientID != "" {
		w.fieldStr("clientid", c.ClientID)
	}
	ctrlWriteText(w, c.TextName, c.TextDescription)
	if c.Disabled {
		w.fieldBool("disabled", true)
	}
	ctrlWriteRefs(w, "roles", "rolename", SortedRefs(c.Roles))
	ctrlWriteRefs(w, "groups", "groupname", groups)
	w.close('}')
}

// ctrlWriteGroup writes a group object: its clients by username, without
// their priorities, before its roles (the order Mosquitto uses).
func ctrlWriteGroup(w *ctrlWriter, g *Group) {
	w.open('{')
	w.fieldStr("groupname", g.Name)
	ctrlWriteText(w, g.TextName, g.TextDescription)
	w.key("clients")
	w.open('[')
	for _, u := range ctrlMemberNames(g) {
		w.open('{')
		w.fieldStr("username", u)
		w.close('}')
	}
	w.close(']')
	ctrlWriteRefs(w, "roles", "rolename", SortedRefs(g.Roles))
	w.close('}')
}

// ctrlWriteRole writes a role object with its ACLs in evaluation order;
// an ACL's priority is always written.
func ctrlWriteRole(w *ctrlWriter, r *Role) {
	w.open('{')
	w.fieldStr("rolename", r.Name)
	ctrlWriteText(w, r.TextName, r.TextDescription)
	w.key("acls")
	w.open('[')
	for _, a := range SortedACLs(r.ACLs) {
		w.open('{')
		w.fieldStr("acltype", a.Type)
		w.fieldStr("topic", a.Topic)
		w.fieldNum("priority", a.Priority)
		w.fieldBool("allow", a.Allow)
		w.close('}')
	}
	w.close(']')
	w.close('}')
}

// ctrlWriteText writes textname and textdescription when set, "" too.
func ctrlWriteText(w *ctrlWriter, name, desc *string) {
	if name != nil {
		w.fieldStr("textname", *name)
	}
	if desc != nil {
		w.fieldStr("textdescription", *desc)
	}
}

// ctrlWriteRefs writes role or group links; a priority of NoPriority is
// left out.
func ctrlWriteRefs(w *ctrlWriter, key, nameKey string, refs []RoleRef) {
	w.key(key)
	w.open('[')
	for _, r := range refs {
		w.open('{')
		w.fieldStr(nameKey, r.Name)
		if r.Priority != NoPriority {
			w.fieldNum("priority", r.Priority)
		}
		w.close('}')
	}
	w.close(']')
}

// ctrlWriteList writes the data of a list command: the total, then the
// page of entries under key, each as a name or (verbose) an object.
func ctrlWriteList(w *ctrlWriter, key string, total int, page []string, verbose bool, entry func(w *ctrlWriter, name string)) {
	w.open('{')
	w.fieldNum("totalCount", total)
	w.key(key)
	w.open('[')
	for _, name := range page {
		if verbose {
			entry(w, name)
		} else {
			w.str(name)
		}
	}
	w.close(']')
	w.close('}')
}
