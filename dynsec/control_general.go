package dynsec

// The general commands: default ACL access and the anonymous group
// (spec 1.4 "General").

// The default-access types as getDefaultACLAccess lists them.
const (
	ctrlDefaultSubscribe   = "subscribe"
	ctrlDefaultUnsubscribe = "unsubscribe"
)

func ctrlGetDefaultACLAccess(b *ctrlBatch, _ *object) ctrlOutcome {
	d := b.cfg.Default
	entries := []struct {
		acltype string
		allow   bool
	}{
		{PublishClientSend, d.PublishClientSend},
		{PublishClientReceive, d.PublishClientReceive},
		{ctrlDefaultSubscribe, d.Subscribe},
		{ctrlDefaultUnsubscribe, d.Unsubscribe},
	}
	return ctrlData(func(w *ctrlWriter) {
		w.open('{')
		w.key("acls")
		w.open('[')
		for _, e := range entries {
			w.open('{')
			w.fieldStr("acltype", e.acltype)
			w.fieldBool("allow", e.allow)
			w.close('}')
		}
		w.close(']')
		w.close('}')
	})
}

// ctrlSetDefaultACLAccess sets the listed default accesses. Elements
// without a string acltype and a usable allow, or with an unknown
// acltype, are skipped silently; the command always succeeds.
func ctrlSetDefaultACLAccess(b *ctrlBatch, req *object) ctrlOutcome {
	arr, ok := req.getArray("acls")
	if !ok {
		return ctrlFail("Missing/invalid actions array") // sic
	}
	d := b.cfg.Default
	for _, el := range arr {
		eo, _ := el.(*object)
		typ, ok := ctrlString(eo, "acltype")
		if !ok {
			continue
		}
		allow, ok := ctrlDefaultAllow(eo)
		if !ok {
			continue
		}
		switch {
		case equalFold(typ, PublishClientSend):
			d.PublishClientSend = allow
		case equalFold(typ, PublishClientReceive):
			d.PublishClientReceive = allow
		case equalFold(typ, ctrlDefaultSubscribe):
			d.Subscribe = allow
		case equalFold(typ, ctrlDefaultUnsubscribe):
			d.Unsubscribe = allow
		}
	}
	if d == b.cfg.Default {
		return ctrlNoChange()
	}
	// Default access changes kick nobody (spec 3.1): it is checked live.
	return ctrlChange(func(cfg *Config) { cfg.Default = d }, ctrlKick{})
}

// ctrlDefaultAllow reads one setDefaultACLAccess element's decision: a
// JSON boolean "allow", as Mosquitto reads it. Deliberate difference (e):
// failing that, the "access":"allow"|"deny" (any case) that Debian's
// mosquitto_ctrl 2.0.11 sends by mistake, which Mosquitto 2.0.11 skips
// while answering success, so that tool's setDefaultACLAccess works here.
func ctrlDefaultAllow(el *object) (allow, ok bool) {
	if v, _ := el.get("allow"); v != nil {
		if allow, isBool := v.(bool); isBool {
			return allow, true
		}
	}
	access, _ := ctrlString(el, "access")
	switch {
	case equalFold(access, "allow"):
		return true, true
	case equalFold(access, "deny"):
		return false, true
	}
	return false, false
}

func ctrlGetAnonymousGroup(b *ctrlBatch, _ *object) ctrlOutcome {
	name := b.cfg.AnonymousGroup
	return ctrlData(func(w *ctrlWriter) {
		w.open('{')
		w.key("group")
		w.open('{')
		w.fieldStr("groupname", name)
		w.close('}')
		w.close('}')
	})
}

// ctrlSetAnonymousGroup kicks every anonymous session when the group
// changes. Config spells "no anonymous group" as "", so naming a group
// called "" leaves no anonymous group (Mosquitto would use that group);
// the response is the same either way.
func ctrlSetAnonymousGroup(b *ctrlBatch, req *object) ctrlOutcome {
	name, ok := ctrlString(req, "groupname")
	switch {
	case !ok:
		return ctrlFail("Invalid/missing groupname")
	case !ctrlValidUTF8(name):
		return ctrlFail("Group name not valid UTF-8")
	case b.cfg.Groups[name] == nil:
		return ctrlFail("Group not found")
	case b.cfg.AnonymousGroup == name:
		return ctrlNoChange()
	}
	return ctrlChange(func(cfg *Config) { cfg.AnonymousGroup = name }, ctrlKick{anon: true})
}
