package dynsec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Load and MarshalFile read and write Mosquitto 2.0.11's
// dynamic-security.json (spec §5 and §6).
//
// Load keeps what Mosquitto's plugin would keep and drops what it would
// drop, but says so: every dropped entry and every ignored field becomes
// a Problem, so that `triad dynsec import` can tell the operator what a
// file loses on the way in. Mosquitto drops these things silently.
//
// Where Triad deliberately does not do what Mosquitto does, the code says
// "Divergence" next to it. In short:
//   - Duplicate usernames, group names and role names: Mosquitto keeps
//     every copy and which one it then uses is undefined; Load keeps the
//     first and reports the others.
//   - A role whose rolename, textname or textdescription is not a string
//     crashes Mosquitto; Load skips the role (or ignores the text field).
//   - A client with `"clientid": ""` can never log in to Mosquitto (its
//     clientid restriction is unsatisfiable), but Config cannot express an
//     empty restriction; Load disables the client instead, which keeps it
//     locked out.
//   - anonymousGroup naming a group called "" cannot be expressed either
//     (AnonymousGroup "" means none); Load sets no anonymous group.
//   - An empty or all-whitespace file loads as an empty config, like
//     Mosquitto's 0-byte file; Mosquitto calls whitespace invalid JSON,
//     which would also leave it with empty data.
//   - Anything that is not a JSON object, or trailing data after it, is an
//     error. Mosquitto would run with empty data (or ignore the trailing
//     data), which is never what an import wants.

// Problem is an entry Load dropped or a field it ignored. It never holds a
// password, hash or salt.
type Problem struct {
	Where string // e.g. `clients[3] (username "bob")` or `roles[0] (rolename "r") acls[2]`
	What  string // a sentence saying what was wrong and what Load did about it
}

// String returns "Where: What".
func (p Problem) String() string { return p.Where + ": " + p.What }

// Load reads a Mosquitto dynamic-security.json the way Mosquitto 2.0.11's
// plugin loads it at startup, and lists what it dropped or ignored. It
// returns an error only when data is neither empty nor a JSON object.
func Load(data []byte) (*Config, []Problem, error) {
	cfg := NewConfig(DefaultAccess{})
	// JSON whitespace only: bytes.TrimSpace would also accept Unicode
	// spaces, which are not valid JSON.
	if len(bytes.Trim(data, " \t\r\n")) == 0 {
		return cfg, nil, nil
	}
	v, err := parseJSON(data)
	if err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, nil, fmt.Errorf("dynsec: file is not valid JSON (at byte %d): %w", se.Offset, err)
		}
		return nil, nil, fmt.Errorf("dynsec: file is not valid JSON: %w", err)
	}
	root, ok := v.(*object)
	if !ok {
		return nil, nil, fmt.Errorf("dynsec: file holds %s, not a JSON object", describeJSON(v))
	}
	l := &loader{cfg: cfg, roleAt: map[string]int{}, clientAt: map[string]int{}, groupAt: map[string]int{}}
	l.checkKeys(root, "file", "defaultACLAccess", "roles", "clients", "groups", "anonymousGroup")
	l.loadDefaultAccess(root)
	// Mosquitto loads the sections in this order and gives up at the first
	// one that is present but not an array, keeping what it has so far.
	if l.loadSection(root, "roles", "clients, groups and anonymousGroup were", l.loadRole) &&
		l.loadSection(root, "clients", "groups and anonymousGroup were", l.loadClient) &&
		l.loadSection(root, "groups", "anonymousGroup was", l.loadGroup) {
		l.loadAnonymousGroup(root)
	}
	return cfg, l.problems, nil
}

// loader holds the state of one Load.
type loader struct {
	cfg      *Config
	problems []Problem
	// The index of the entry each kept name came from, to point a
	// duplicate at the entry that won.
	roleAt, clientAt, groupAt map[string]int
}

func (l *loader) add(where, format string, args ...any) {
	l.problems = append(l.problems, Problem{Where: where, What: fmt.Sprintf(format, args...)})
}

// loadSection loads each entry of the array root[key]. It returns false
// when the key is present but not an array: Mosquitto stops loading there.
func (l *loader) loadSection(root *object, key, notLoaded string, entry func(int, any)) bool {
	v, present := root.get(key)
	if !present {
		return true
	}
	arr, ok := v.([]any)
	if !ok {
		l.add(key, "is %s, not an array; Mosquitto stops loading at this point, so %s not loaded", describeJSON(v), notLoaded)
		return false
	}
	for i, e := range arr {
		entry(i, e)
	}
	return true
}

// loadDefaultAccess reads defaultACLAccess. Anything missing or not a
// boolean is false (deny), as in Mosquitto.
func (l *loader) loadDefaultAccess(root *object) {
	const where = "defaultACLAccess"
	v, present := root.get(where)
	if !present {
		return
	}
	o, ok := v.(*object)
	if !ok {
		l.add(where, "is %s, not an object; every default access is deny", describeJSON(v))
		return
	}
	l.checkKeys(o, where, PublishClientSend, PublishClientReceive, "subscribe", "unsubscribe")
	l.cfg.Default = DefaultAccess{
		PublishClientSend:    l.optBool(o, PublishClientSend, where),
		PublishClientReceive: l.optBool(o, PublishClientReceive, where),
		Subscribe:            l.optBool(o, "subscribe", where),
		Unsubscribe:          l.optBool(o, "unsubscribe", where),
	}
}

func (l *loader) loadRole(i int, v any) {
	o, name, where, ok := l.entry("roles", i, v, "rolename", l.roleAt)
	if !ok {
		return
	}
	l.checkKeys(o, where, "rolename", "textname", "textdescription", "acls")
	l.cfg.Roles[name] = &Role{
		Name: name,
		// Divergence: a role's text field that is not a string crashes
		// Mosquitto 2.0.11; here it is ignored like a client's.
		TextName:        l.optString(o, "textname", where),
		TextDescription: l.optString(o, "textdescription", where),
		ACLs:            l.loadACLs(o, where),
	}
	l.roleAt[name] = i
}

// loadACLs reads a role's acls in file order, which is their insertion
// order: SortedACLs then gives the order Mosquitto's per-type lists have.
// Duplicates are kept, as Mosquitto keeps them.
func (l *loader) loadACLs(role *object, where string) []ACL {
	v, present := role.get("acls")
	if !present {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		l.add(where, "acls is %s, not an array; the role has no ACLs", describeJSON(v))
		return nil
	}
	var acls []ACL
	for j, av := range arr {
		w := fmt.Sprintf("%s acls[%d]", where, j)
		o, ok := av.(*object)
		if !ok {
			l.add(w, "is %s, not an object; skipped", describeJSON(av))
			continue
		}
		t, ok := o.getString("acltype")
		if !ok {
			l.add(w, "has no string acltype; skipped")
			continue
		}
		typ, ok := canonicalACLType(cutAtNUL(t))
		if !ok {
			l.add(w, "acltype %q is not one of %s; skipped", t, strings.Join(ACLTypes, ", "))
			continue
		}
		topic, ok := o.getString("topic")
		if !ok {
			l.add(w, "has no string topic; skipped")
			continue
		}
		l.checkKeys(o, w, "acltype", "topic", "priority", "allow")
		acls = append(acls, ACL{Type: typ, Topic: cutAtNUL(topic),
			Priority: l.optInt(o, "priority", w, 0), Allow: l.optBool(o, "allow", w)})
	}
	return acls
}

func (l *loader) loadClient(i int, v any) {
	o, name, where, ok := l.entry("clients", i, v, "username", l.clientAt)
	if !ok {
		return
	}
	// Mosquitto checks the password before anything else about a client.
	pw, keep := l.loadPassword(o, where)
	if !keep {
		return
	}
	l.checkKeys(o, where, "username", "clientid", "textname", "textdescription", "disabled", "roles",
		"password", "salt", "iterations")
	c := &Client{Username: name, Password: pw, Disabled: l.optBool(o, "disabled", where)}
	if id := l.optString(o, "clientid", where); id != nil {
		if *id == "" {
			// Divergence: see the top of this file. Disabling keeps the
			// client out, as Mosquitto's unsatisfiable restriction does,
			// and an admin can undo it with enableClient.
			c.Disabled = true
			l.add(where, `clientid is "", which Mosquitto treats as a restriction no client can meet; the client is disabled instead`)
		} else {
			c.ClientID = *id
		}
	}
	c.TextName = l.optString(o, "textname", where)
	c.TextDescription = l.optString(o, "textdescription", where)
	c.Roles = l.loadRoleRefs(o, where)
	l.cfg.Clients[name] = c
	l.clientAt[name] = i
}

// loadPassword reads a client's password, salt and iterations (spec §5).
// keep is false when Mosquitto would drop the whole client. A Problem
// names the fields but never their values.
func (l *loader) loadPassword(o *object, where string) (pw *Password, keep bool) {
	sv, hasSalt := o.get("salt")
	hv, hasHash := o.get("password")
	iv, hasIter := o.get("iterations")
	if !hasSalt && !hasHash && !hasIter {
		return nil, true
	}
	salt, saltOK := sv.(string)
	hash, hashOK := hv.(string)
	iter, iterOK := iv.(float64)
	if !saltOK || !hashOK || !iterOK {
		var bad []string
		note := func(key, want string, present, ok bool, v any) {
			switch {
			case !present:
				bad = append(bad, key+" is missing")
			case !ok:
				bad = append(bad, fmt.Sprintf("%s is %s, not %s", key, describeJSON(v), want))
			}
		}
		note("password", "a string", hasHash, hashOK, hv)
		note("salt", "a string", hasSalt, saltOK, sv)
		note("iterations", "a number", hasIter, iterOK, iv)
		l.add(where, "%s; the client is kept without a password, so it cannot log in", strings.Join(bad, ", "))
		return nil, true
	}
	p := &Password{Iterations: cInt(iter)}
	if p.Iterations < 1 {
		l.add(where, "iterations is less than 1; the client is dropped, as Mosquitto drops it")
		return nil, false
	}
	var err error
	if p.Salt, err = base64.StdEncoding.DecodeString(cutAtNUL(salt)); err != nil || len(p.Salt) != SaltBytes {
		l.add(where, "salt is not base64 of exactly %d bytes; the client is dropped, as Mosquitto drops it", SaltBytes)
		return nil, false
	}
	if p.Hash, err = base64.StdEncoding.DecodeString(cutAtNUL(hash)); err != nil || len(p.Hash) != HashBytes {
		l.add(where, "password is not base64 of exactly %d bytes; the client is dropped, as Mosquitto drops it", HashBytes)
		return nil, false
	}
	return p, true
}

func (l *loader) loadGroup(i int, v any) {
	o, name, where, ok := l.entry("groups", i, v, "groupname", l.groupAt)
	if !ok {
		return
	}
	l.checkKeys(o, where, "groupname", "textname", "textdescription", "roles", "clients")
	l.cfg.Groups[name] = &Group{
		Name:            name,
		TextName:        l.optString(o, "textname", where),
		TextDescription: l.optString(o, "textdescription", where),
		Roles:           l.loadRoleRefs(o, where),
		Members:         l.loadMembers(o, where),
	}
	l.groupAt[name] = i
}

// loadRoleRefs reads the roles of a client or group, sorted as Mosquitto
// holds them (SortRefs). References to unknown roles are dropped, and of
// two references to one role the first wins, as in Mosquitto.
func (l *loader) loadRoleRefs(o *object, where string) []RoleRef {
	var refs []RoleRef
	l.loadRefs(o, where, "roles", "rolename", func(w, name string, ro *object) {
		switch {
		case l.cfg.Roles[name] == nil:
			l.add(w, "names a role that was not loaded; dropped")
		case slices.ContainsFunc(refs, func(r RoleRef) bool { return r.Name == name }):
			l.add(w, "repeats a role already listed; dropped")
		default:
			refs = append(refs, RoleRef{Name: name, Priority: l.optInt(ro, "priority", w, NoPriority)})
		}
	})
	SortRefs(refs)
	return refs
}

// loadMembers reads a group's clients, sorted by username as Mosquitto
// holds them. Unknown usernames are dropped, and of two entries for one
// client the first wins, as in Mosquitto.
func (l *loader) loadMembers(o *object, where string) []Member {
	var members []Member
	l.loadRefs(o, where, "clients", "username", func(w, name string, mo *object) {
		switch {
		case l.cfg.Clients[name] == nil:
			l.add(w, "names a client that was not loaded; dropped")
		case slices.ContainsFunc(members, func(m Member) bool { return m.Username == name }):
			l.add(w, "repeats a client already listed; dropped")
		default:
			members = append(members, Member{Username: name, Priority: l.optInt(mo, "priority", w, NoPriority)})
		}
	})
	slices.SortStableFunc(members, func(a, b Member) int { return strings.Compare(a.Username, b.Username) })
	return members
}

// loadRefs calls add for each element of the array o[key] that is an
// object with a string nameKey; it reports the others, and the array
// itself when it is not one.
func (l *loader) loadRefs(o *object, where, key, nameKey string, add func(where, name string, ref *object)) {
	v, present := o.get(key)
	if !present {
		return
	}
	arr, ok := v.([]any)
	if !ok {
		l.add(where, "%s is %s, not an array; ignored", key, describeJSON(v))
		return
	}
	for j, rv := range arr {
		w := fmt.Sprintf("%s %s[%d]", where, key, j)
		ro, ok := rv.(*object)
		if !ok {
			l.add(w, "is %s, not an object; skipped", describeJSON(rv))
			continue
		}
		name, ok := ro.getString(nameKey)
		if !ok {
			l.add(w, "has no string %s; skipped", nameKey)
			continue
		}
		name = cutAtNUL(name)
		w = fmt.Sprintf("%s %s[%d] (%s %q)", where, key, j, nameKey, name)
		l.checkKeys(ro, w, nameKey, "priority")
		add(w, name, ro)
	}
}

func (l *loader) loadAnonymousGroup(root *object) {
	const where = "anonymousGroup"
	v, present := root.get(where)
	if !present {
		return
	}
	name, ok := v.(string)
	if !ok {
		l.add(where, "is %s, not a string; there is no anonymous group", describeJSON(v))
		return
	}
	name = cutAtNUL(name)
	switch {
	case l.cfg.Groups[name] == nil:
		l.add(where, "names group %q, which was not loaded; there is no anonymous group", name)
	case name == "":
		// Divergence: Config.AnonymousGroup "" means none.
		l.add(where, `names the group "", which Triad cannot use as the anonymous group; there is no anonymous group`)
	default:
		l.cfg.AnonymousGroup = name
	}
}

// entry checks one element of the roles, clients or groups array: it must
// be an object with a string nameKey whose name was not loaded before.
// where names the entry for later Problems.
func (l *loader) entry(section string, i int, v any, nameKey string, seen map[string]int) (o *object, name, where string, ok bool) {
	where = fmt.Sprintf("%s[%d]", section, i)
	o, ok = v.(*object)
	if !ok {
		l.add(where, "is %s, not an object; skipped", describeJSON(v))
		return nil, "", where, false
	}
	nv, present := o.get(nameKey)
	if !present {
		l.add(where, "has no %s; skipped", nameKey)
		return nil, "", where, false
	}
	s, isString := nv.(string)
	if !isString {
		// Divergence for roles: Mosquitto 2.0.11 crashes on a non-string
		// rolename. Clients and groups are skipped by Mosquitto too.
		l.add(where, "%s is %s, not a string; skipped", nameKey, describeJSON(nv))
		return nil, "", where, false
	}
	name = cutAtNUL(s)
	where = fmt.Sprintf("%s[%d] (%s %q)", section, i, nameKey, name)
	if first, dup := seen[name]; dup {
		// Divergence: Mosquitto keeps both entries and which one it uses
		// afterwards is undefined (spec §6.2). Keeping the first is at
		// least predictable.
		l.add(where, "has the same %s as %s[%d]; skipped, the first one is kept", nameKey, section, first)
		return nil, "", where, false
	}
	return o, name, where, true
}

// optString returns an optional string field, or nil when it is absent or
// not a string (reported: the field is ignored).
func (l *loader) optString(o *object, key, where string) *string {
	v, present := o.get(key)
	if !present {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		l.add(where, "%s is %s, not a string; ignored", key, describeJSON(v))
		return nil
	}
	s = cutAtNUL(s)
	return &s
}

// optInt returns a number field as cJSON's valueint, or def when it is
// absent or not a number (reported).
func (l *loader) optInt(o *object, key, where string, def int) int {
	v, present := o.get(key)
	if !present {
		return def
	}
	if _, ok := v.(float64); !ok {
		l.add(where, "%s is %s, not a number; %d is used", key, describeJSON(v), def)
		return def
	}
	return o.getInt(key, def)
}

// optBool returns a boolean field, or false when it is absent or not a
// boolean (reported).
func (l *loader) optBool(o *object, key, where string) bool {
	v, present := o.get(key)
	if !present {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		l.add(where, "%s is %s, not a boolean; false is used", key, describeJSON(v))
	}
	return b
}

// checkKeys reports the keys of o that Mosquitto ignores: unknown ones,
// and a repeat of a known key in another case (lookups are
// case-insensitive and the first match wins).
func (l *loader) checkKeys(o *object, where string, known ...string) {
	seen := make([]bool, len(known))
	for _, k := range o.keys {
		i := slices.IndexFunc(known, func(kn string) bool { return equalFold(k, kn) })
		switch {
		case i < 0:
			l.add(where, "unknown key %q is ignored", k)
		case seen[i]:
			l.add(where, "key %q repeats %q (keys are case-insensitive and the first one counts); ignored", k, known[i])
		default:
			seen[i] = true
		}
	}
}

// describeJSON names the JSON type of a parsed value, for messages. It
// never shows the value, which could be a secret.
func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case *object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// cutAtNUL cuts s at its first NUL byte: Mosquitto keeps cJSON's strings
// as C strings, so a "\u0000" in the file ends the name there.
func cutAtNUL(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// MarshalFile returns c as Mosquitto 2.0.11's plugin writes its file
// (spec §6.1): the same keys in the same order, lists sorted as the plugin
// holds them, and cJSON's pretty printing, so a file Triad exports is
// byte for byte the file Mosquitto would have written.
func (c *Config) MarshalFile() []byte {
	root := fileObject{
		{"defaultACLAccess", fileObject{
			{PublishClientSend, c.Default.PublishClientSend},
			{PublishClientReceive, c.Default.PublishClientReceive},
			{"subscribe", c.Default.Subscribe},
			{"unsubscribe", c.Default.Unsubscribe},
		}},
		{"clients", c.fileClients()},
		{"groups", c.fileGroups()},
	}
	if c.AnonymousGroup != "" {
		root = append(root, fileKV{"anonymousGroup", c.AnonymousGroup})
	}
	root = append(root, fileKV{"roles", c.fileRoles()})
	var b bytes.Buffer
	writeCJSON(&b, root, 0)
	return b.Bytes()
}

// fileObject is a JSON object with its members in order; fileKV.val is a
// string, int, bool, fileObject or []any (an array).
type fileObject []fileKV

type fileKV struct {
	key string
	val any
}

func (c *Config) fileClients() []any {
	out := []any{}
	for _, name := range c.ClientNames() {
		cl := c.Clients[name]
		o := fileObject{{"username", cl.Username}}
		if cl.ClientID != "" {
			o = append(o, fileKV{"clientid", cl.ClientID})
		}
		o = appendText(o, cl.TextName, cl.TextDescription)
		if cl.Disabled {
			o = append(o, fileKV{"disabled", true})
		}
		o = append(o, fileKV{"roles", fileRefs(cl.Roles)})
		if p := cl.Password; p != nil {
			o = append(o, fileKV{"password", base64.StdEncoding.EncodeToString(p.Hash)},
				fileKV{"salt", base64.StdEncoding.EncodeToString(p.Salt)},
				fileKV{"iterations", p.Iterations})
		}
		out = append(out, o)
	}
	return out
}

func (c *Config) fileGroups() []any {
	out := []any{}
	for _, name := range c.GroupNames() {
		g := c.Groups[name]
		o := appendText(fileObject{{"groupname", g.Name}}, g.TextName, g.TextDescription)
		members := slices.Clone(g.Members)
		slices.SortStableFunc(members, func(a, b Member) int { return strings.Compare(a.Username, b.Username) })
		clients := []any{}
		for _, m := range members {
			clients = append(clients, withPriority(fileObject{{"username", m.Username}}, m.Priority))
		}
		out = append(out, append(o, fileKV{"roles", fileRefs(g.Roles)}, fileKV{"clients", clients}))
	}
	return out
}

func (c *Config) fileRoles() []any {
	out := []any{}
	for _, name := range c.RoleNames() {
		r := c.Roles[name]
		o := appendText(fileObject{{"rolename", r.Name}}, r.TextName, r.TextDescription)
		acls := []any{}
		for _, a := range SortedACLs(r.ACLs) {
			// Unlike a link's priority, an ACL's is always written.
			acls = append(acls, fileObject{{"acltype", a.Type}, {"topic", a.Topic}, {"priority", a.Priority}, {"allow", a.Allow}})
		}
		out = append(out, append(o, fileKV{"acls", acls}))
	}
	return out
}

// fileRefs writes role links in the order Mosquitto keeps them (SortRefs).
func fileRefs(refs []RoleRef) []any {
	out := []any{}
	for _, r := range SortedRefs(refs) {
		out = append(out, withPriority(fileObject{{"rolename", r.Name}}, r.Priority))
	}
	return out
}

// withPriority adds a link's priority unless it is NoPriority, which
// Mosquitto leaves out.
func withPriority(o fileObject, priority int) fileObject {
	if priority == NoPriority {
		return o
	}
	return append(o, fileKV{"priority", priority})
}

// appendText adds textname and textdescription when set; "" is a value
// and is written.
func appendText(o fileObject, name, desc *string) fileObject {
	if name != nil {
		o = append(o, fileKV{"textname", *name})
	}
	if desc != nil {
		o = append(o, fileKV{"textdescription", *desc})
	}
	return o
}

// writeCJSON prints v as cJSON_Print does: each object member on its own
// line indented by tabs, `"key":` TAB value; arrays inline with ", "
// between elements. depth is cJSON's depth before v: an object's members
// get depth+1 tabs and its closing brace depth tabs.
func writeCJSON(b *bytes.Buffer, v any, depth int) {
	switch v := v.(type) {
	case string:
		writeCJSONString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case fileObject:
		b.WriteString("{\n")
		for i, kv := range v {
			b.WriteString(strings.Repeat("\t", depth+1))
			writeCJSONString(b, kv.key)
			b.WriteString(":\t")
			writeCJSON(b, kv.val, depth+1)
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(strings.Repeat("\t", depth))
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCJSON(b, e, depth+1)
		}
		b.WriteByte(']')
	default:
		panic(fmt.Sprintf("dynsec: writeCJSON: unexpected %T", v)) // a bug in this file
	}
}

// writeCJSONString quotes s as cJSON does: only '"', '\\' and control
// characters are escaped (the latter as \b \f \n \r \t or \u00xx with
// lower-case hex); '/', DEL and every byte >= 0x80 are written as they are.
func writeCJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
