package dynsec

import "slices"

// ImportCommand is Triad's one addition to the control API: it replaces
// the whole configuration with a dynamic-security.json, given as a string
// in "file", as `triad dynsec import` sends it:
//
//	{"commands":[{"command":"importConfig","file":"{ ...the file... }"}]}
//
// The file is read with Load's rules. The answer's data counts what was
// imported and lists what Load ignored (never secrets). Every connected
// client but the requester is disconnected: any of their permissions may
// have changed, as after a Mosquitto restart with a new file. The
// requester is spared so that it gets the answer; from then on what it may
// do is the new configuration's. Like every command it needs
// an admin's access to the control topic.
const ImportCommand = "importConfig"

func ctrlImportConfig(b *ctrlBatch, req *object) ctrlOutcome {
	file, ok := ctrlString(req, "file")
	if !ok {
		return ctrlFail("Invalid/missing file")
	}
	cfg, problems, err := Load([]byte(file))
	if err != nil {
		return ctrlFail("Invalid file: " + err.Error())
	}
	out := ctrlChange(func(c *Config) { *c = *cfg }, ctrlKick{users: allUsernames(b.cfg, cfg), anon: true, spare: true})
	out.data = func(w *ctrlWriter) {
		w.open('{')
		w.fieldNum("clients", len(cfg.Clients))
		w.fieldNum("groups", len(cfg.Groups))
		w.fieldNum("roles", len(cfg.Roles))
		w.key("ignored")
		w.open('[')
		for _, p := range problems {
			w.str(p.String())
		}
		w.close(']')
		w.close('}')
	}
	return out
}

// allUsernames lists the usernames of both configurations, sorted and
// unique: a replacement concerns whoever either of them knows.
func allUsernames(old, cfg *Config) []string {
	names := append(old.ClientNames(), cfg.ClientNames()...)
	slices.Sort(names)
	return slices.Compact(names)
}
