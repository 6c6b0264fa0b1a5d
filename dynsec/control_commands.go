package dynsec

// ctrlOutcome is what a command handler decides, before anything is
// changed: handlers only read the configuration and describe the change,
// so a refused command cannot leave half a change behind (difference (a)).
type ctrlOutcome struct {
	errText  string              // the "error" of the response; "" on success
	data     func(w *ctrlWriter) // writes the "data" value of a success; nil for none
	apply    func(cfg *Config)   // makes the change on the batch's private clone; nil when nothing changes
	kick     ctrlKick            // whom the change disconnects (only used with apply)
	internal error               // why an "Internal error" happened, for Result.Err
}

// ctrlKick names sessions to disconnect (spec 3.1).
type ctrlKick struct {
	users []string
	anon  bool
	spare bool // not the requester (Kicks.SpareRequester)
}

func ctrlFail(errText string) ctrlOutcome { return ctrlOutcome{errText: errText} }

// ctrlNoChange is a plain success that changes nothing, such as
// enableClient on an enabled client: Mosquitto answers success and
// (deliberate difference (b)) kicks nobody.
func ctrlNoChange() ctrlOutcome { return ctrlOutcome{} }

func ctrlData(data func(w *ctrlWriter)) ctrlOutcome { return ctrlOutcome{data: data} }

func ctrlChange(apply func(cfg *Config), kick ctrlKick) ctrlOutcome {
	return ctrlOutcome{apply: apply, kick: kick}
}

// ctrlInternal answers "Internal error" and keeps err for the log.
func ctrlInternal(err error) ctrlOutcome {
	return ctrlOutcome{errText: "Internal error", internal: err}
}

// ctrlCommand is one command of the API: its canonical name (what the
// response says whatever case the request used) and its handler.
type ctrlCommand struct {
	name string
	run  func(b *ctrlBatch, req *object) ctrlOutcome
}

// ctrlCommands lists every command of Mosquitto 2.0.11's plugin (spec 1.4),
// and Triad's importConfig.
var ctrlCommands = []ctrlCommand{
	{"setDefaultACLAccess", ctrlSetDefaultACLAccess},
	{"getDefaultACLAccess", ctrlGetDefaultACLAccess},
	{"setAnonymousGroup", ctrlSetAnonymousGroup},
	{"getAnonymousGroup", ctrlGetAnonymousGroup},

	{"createClient", ctrlCreateClient},
	{"deleteClient", ctrlDeleteClient},
	{"getClient", ctrlGetClient},
	{"listClients", ctrlListClients},
	{"modifyClient", ctrlModifyClient},
	{"setClientPassword", ctrlSetClientPassword},
	{"setClientId", ctrlSetClientID},
	{"addClientRole", ctrlAddClientRole},
	{"removeClientRole", ctrlRemoveClientRole},
	{"enableClient", ctrlEnableClient},
	{"disableClient", ctrlDisableClient},

	{"addGroupClient", ctrlAddGroupClient},
	{"createGroup", ctrlCreateGroup},
	{"deleteGroup", ctrlDeleteGroup},
	{"getGroup", ctrlGetGroup},
	{"listGroups", ctrlListGroups},
	{"modifyGroup", ctrlModifyGroup},
	{"removeGroupClient", ctrlRemoveGroupClient},
	{"addGroupRole", ctrlAddGroupRole},
	{"removeGroupRole", ctrlRemoveGroupRole},

	{"createRole", ctrlCreateRole},
	{"getRole", ctrlGetRole},
	{"listRoles", ctrlListRoles},
	{"modifyRole", ctrlModifyRole},
	{"deleteRole", ctrlDeleteRole},
	{"addRoleACL", ctrlAddRoleACL},
	{"removeRoleACL", ctrlRemoveRoleACL},

	{ImportCommand, ctrlImportConfig}, // Triad's (control_import.go)
}

// ctrlLookup finds a command by name, ASCII-case-insensitively as the
// plugin's strcasecmp does.
func ctrlLookup(name string) (ctrlCommand, bool) {
	for _, c := range ctrlCommands {
		if equalFold(name, c.name) {
			return c, true
		}
	}
	return ctrlCommand{}, false
}

// ctrlPage returns the entries a list command shows (spec 1.4, paging
// quirk): skip offset entries (negative counts as 0), then emit entries,
// and after each one, if count >= 0, decrement it and stop once it is
// <= 0. So count 0 shows one entry, and a negative count shows the rest.
func ctrlPage[T any](all []T, count, offset int) []T {
	offset = max(offset, 0)
	if offset >= len(all) {
		return nil
	}
	rest := all[offset:]
	if count < 0 {
		return rest
	}
	return rest[:min(max(count, 1), len(rest))]
}

// ctrlListArgs reads the arguments shared by the list commands.
func ctrlListArgs(req *object) (verbose bool, count, offset int) {
	return req.getBool("verbose", false), req.getInt("count", -1), req.getInt("offset", 0)
}

// ctrlList answers a list command over names (all of them, in order):
// the page its arguments select, the total count, and each entry as a
// name or, verbose, as entry writes it.
func ctrlList(req *object, key string, names []string, entry func(w *ctrlWriter, name string)) ctrlOutcome {
	verbose, count, offset := ctrlListArgs(req)
	page := ctrlPage(names, count, offset)
	return ctrlData(func(w *ctrlWriter) {
		ctrlWriteList(w, key, len(names), page, verbose, entry)
	})
}
