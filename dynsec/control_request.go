package dynsec

import (
	"strings"
	"unicode/utf8"
)

// Reading request fields the way the plugin's json_get_string,
// json_get_int and json_get_bool do (spec 1.3), on top of jsonobj.go.

// ctrlCString cuts s at its first NUL. cJSON hands the plugin C strings,
// so "a\u0000b" is read as "a" (verified live with createClient).
func ctrlCString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// ctrlString reads a required string field; ok is false when it is
// missing or not a string ("Invalid/missing <thing>").
func ctrlString(o *object, key string) (string, bool) {
	s, ok := o.getString(key)
	return ctrlCString(s), ok
}

// ctrlTexts reads the optional textname and textdescription of a create
// command, which refuses either when it is not a string.
func ctrlTexts(req *object) (textName, textDesc *string, errText string) {
	textName, bad := ctrlOptString(req, "textname")
	if bad {
		return nil, nil, "Invalid/missing textname"
	}
	if textDesc, bad = ctrlOptString(req, "textdescription"); bad {
		return nil, nil, "Invalid/missing textdescription"
	}
	return textName, textDesc, ""
}

// ctrlOptString reads an optional string field: nil when absent, bad when
// present with another type (null included). create* commands refuse a
// bad one; modify* commands ignore it.
func ctrlOptString(o *object, key string) (s *string, bad bool) {
	v, present := o.get(key)
	if !present {
		return nil, false
	}
	str, ok := v.(string)
	if !ok {
		return nil, true
	}
	str = ctrlCString(str)
	return &str, false
}

// ctrlName reads the name under key and checks it with the UTF-8
// validator; errText is Mosquitto's answer when that fails.
func ctrlName(req *object, key, what string) (name, errText string) {
	name, ok := ctrlString(req, key)
	if !ok {
		return "", "Invalid/missing " + key
	}
	if !ctrlValidUTF8(name) {
		return "", what + " not valid UTF-8"
	}
	return name, ""
}

// ctrlUsername, ctrlGroupname and ctrlRolename read the names most
// commands take, with Mosquitto's error texts.
func ctrlUsername(req *object) (string, string) { return ctrlName(req, "username", "Username") }

func ctrlGroupname(req *object) (string, string) { return ctrlName(req, "groupname", "Group name") }

func ctrlRolename(req *object) (string, string) { return ctrlName(req, "rolename", "Role name") }

// ctrlValidUTF8 is mosquitto_validate_utf8 (spec 1.3): at most 65536
// bytes of well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF) without NUL, C0 or C1 control characters, or
// non-characters (U+FDD0 to U+FDEF, U+xxFFFE, U+xxFFFF).
func ctrlValidUTF8(s string) bool {
	if len(s) > 65536 {
		return false
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1: // malformed (a real U+FFFD is 3 bytes)
			return false
		case r <= 0x1f, r >= 0x7f && r <= 0x9f:
			return false
		case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
			return false
		}
		i += size
	}
	return true
}

// ctrlValidSubFilter is mosquitto_sub_topic_check: '+' and '#' only as a
// whole level, '#' only last, at most 200 '/' and 65535 bytes. The empty
// filter passes.
func ctrlValidSubFilter(s string) bool {
	const maxLevels, maxLen = 200, 65535
	if len(s) > maxLen || strings.Count(s, "/") > maxLevels {
		return false
	}
	for i := 0; i < len(s); i++ {
		startsLevel := i == 0 || s[i-1] == '/'
		switch s[i] {
		case '+':
			if !startsLevel || (i+1 < len(s) && s[i+1] != '/') {
				return false
			}
		case '#':
			if !startsLevel || i+1 != len(s) {
				return false
			}
		}
	}
	return true
}

// ctrlRolesResult says how reading a "roles" array went.
type ctrlRolesResult int

const (
	ctrlRolesOK       ctrlRolesResult = iota
	ctrlRolesAbsent                   // no "roles" key: leave the list alone
	ctrlRolesNotFound                 // an element names a role that does not exist
	ctrlRolesInvalid                  // not an array, or an element without a string rolename
)

// ctrlRolesArg reads a request's optional "roles" (ctrlReadRoles): set
// is false when the key is absent; errText is Mosquitto's answer to a
// list naming an unknown role, or invalid (the text the command uses).
func ctrlRolesArg(o *object, cfg *Config, invalid string) (roles []RoleRef, set bool, errText string) {
	roles, res := ctrlReadRoles(o, cfg)
	switch res {
	case ctrlRolesNotFound:
		return nil, false, "Role not found"
	case ctrlRolesInvalid:
		return nil, false, invalid
	}
	return roles, res == ctrlRolesOK, ""
}

// ctrlRolesInvalidText is what most commands answer to a bad "roles".
const ctrlRolesInvalidText = "'roles' not an array or missing/invalid rolename"

// ctrlReadRoles reads a request's "roles" as dynsec_rolelist__load_from_json
// does: elements in order, the first bad one decides the error; a role
// listed twice keeps its first priority. The result is a fresh slice.
func ctrlReadRoles(o *object, cfg *Config) ([]RoleRef, ctrlRolesResult) {
	v, present := o.get("roles")
	if !present {
		return nil, ctrlRolesAbsent
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, ctrlRolesInvalid
	}
	refs := []RoleRef{}
	for _, el := range arr {
		eo, _ := el.(*object)
		name, ok := ctrlString(eo, "rolename")
		if !ok {
			return nil, ctrlRolesInvalid
		}
		if _, exists := cfg.Roles[name]; !exists {
			return nil, ctrlRolesNotFound
		}
		if !ctrlHasRef(refs, name) {
			refs = append(refs, RoleRef{Name: name, Priority: eo.getInt("priority", NoPriority)})
		}
	}
	return refs, ctrlRolesOK
}

// ctrlReadACLs reads the "acls" of createRole/modifyRole as
// dynsec_roles__acl_load does: nothing is validated, elements with an
// unknown acltype or without a string topic are dropped, duplicates are
// kept. ok is false when "acls" is absent or not an array.
func ctrlReadACLs(o *object) (acls []ACL, ok bool) {
	arr, ok := o.getArray("acls")
	if !ok {
		return nil, false
	}
	acls = []ACL{}
	for _, el := range arr {
		eo, _ := el.(*object)
		typ, ok := ctrlString(eo, "acltype")
		if !ok {
			continue
		}
		canon, known := canonicalACLType(typ)
		topic, ok := ctrlString(eo, "topic")
		if !known || !ok {
			continue
		}
		acls = append(acls, ACL{Type: canon, Topic: topic,
			Priority: eo.getInt("priority", 0), Allow: eo.getBool("allow", false)})
	}
	return acls, true
}
