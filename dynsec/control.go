package dynsec

import (
	"crypto/rand"
	"errors"
	"io"
	"maps"
	"slices"
)

// The $CONTROL/dynamic-security/v1 API of Mosquitto 2.0.11 (spec 1-3).
// Handle answers a request payload against an immutable Config and
// returns the response to publish, the new Config and whom to kick.
// Responses are byte-identical to Mosquitto's except for these deliberate
// differences, each also noted where it is made:
//
//   (a) Every command is atomic: it checks everything before it changes
//       anything, so an error leaves nothing of it behind. Mosquitto
//       2.0.11 half-applies modifyClient and modifyGroup.
//   (b) Only a command that changed something kicks, whom spec 3.1's
//       table says. Mosquitto also kicks after some errors and no-ops.
//   (c) Role links have no back-references to go stale (spec 3.3):
//       deleteRole removes the role from every client and group, and
//       role changes kick every holder.
//   (d) deleteGroup of the anonymous group is refused with "Deleting the
//       anonymous group is forbidden" (2.0.11 crashes; 2.0.15 refuses).
//   (e) setDefaultACLAccess also takes the "access":"allow"|"deny" that
//       Debian's mosquitto_ctrl 2.0.11 sends, which Mosquitto ignores.
//   (f) A payload over MaxPayload is answered "Payload too large" unread.
//   (g) JSON nested deeper than jsonobj.go allows is "Payload not valid
//       JSON" (cJSON allows 1000 levels).
//   (h) An element without a string "command" is answered without the
//       stale correlationData of an earlier element.
//   (i) modifyGroup's "clients" kicks the members it removes as well as
//       the ones it keeps or adds (Mosquitto kicks only the final ones,
//       leaving removed members connected with their old rights).
//
// control_parse.go lists where reading a payload differs from cJSON.

// ControlTopic is the topic requests are published to; ResponseTopic is
// where the broker publishes every response (to every subscriber).
const (
	ControlTopic  = "$CONTROL/dynamic-security/v1"
	ResponseTopic = "$CONTROL/dynamic-security/v1/response"
)

// DefaultMaxPayload is the largest request Handle parses when
// Controller.MaxPayload is not set.
const DefaultMaxPayload = 1 << 20

// Kicks says whose connections a change must close (spec 3.1).
type Kicks struct {
	Usernames []string // sorted, unique
	Anonymous bool     // every client without a username
	// SpareRequester: the connection that sent the request is not kicked
	// (importConfig), so it can read the answer; its permissions are the
	// new configuration's from now on, checked at every operation.
	SpareRequester bool
}

// Result is Handle's answer to one request.
type Result struct {
	Response []byte  // the JSON to publish on $CONTROL/dynamic-security/v1/response
	Config   *Config // the configuration after the request; the input pointer itself when nothing changed
	Changed  bool
	Kicks    Kicks
	// Err holds internal failures (the salt source failing), wrapped.
	// The response already reports them as "Internal error"; Err is for
	// the broker's log.
	Err error
}

// Controller runs control requests. The zero value is ready to use, and
// Handle may be called from several goroutines at once when Rand allows
// it (crypto/rand does). Each call starts from the Config it is given, so
// the caller orders requests: the next one must get the Config the
// previous one returned.
type Controller struct {
	Rand       io.Reader // salts; crypto/rand.Reader when nil
	MaxPayload int       // larger requests get an error response; DefaultMaxPayload when 0 (or negative)
}

// Handle runs every command of payload in order against cfg and returns
// the response. It never modifies cfg: the first change is made on a
// Clone, which later commands of the same request keep changing. A nil
// cfg reads as an empty configuration with all default access denied,
// as Mosquitto runs without a file.
func (c *Controller) Handle(cfg *Config, payload []byte) Result {
	b := &ctrlBatch{cfg: cfg, rnd: c.Rand}
	if b.rnd == nil {
		b.rnd = rand.Reader
	}
	if b.cfg == nil {
		b.cfg = NewConfig(DefaultAccess{})
	}
	w := &ctrlWriter{}
	w.open('{')
	w.key("responses")
	w.open('[')
	b.run(w, payload, c.maxPayload())
	w.close(']')
	w.close('}')
	res := Result{Response: w.buf, Config: cfg, Changed: b.changed, Err: errors.Join(b.errs...)}
	if b.changed {
		res.Config = b.cfg
		res.Kicks = Kicks{Usernames: slices.Sorted(maps.Keys(b.kickUsers)), Anonymous: b.kickAnon, SpareRequester: b.spare}
	}
	return res
}

func (c *Controller) maxPayload() int {
	if c.MaxPayload <= 0 {
		return DefaultMaxPayload
	}
	return c.MaxPayload
}

// ctrlBatch is the state of one Handle call.
type ctrlBatch struct {
	cfg       *Config   // what commands see: the caller's Config until the first change, then a private clone
	rnd       io.Reader // the salt source
	changed   bool
	kickUsers map[string]struct{}
	kickAnon  bool
	spare     bool    // a command spared the requester (Kicks.SpareRequester)
	errs      []error // internal failures, for Result.Err
}

// run answers the envelope (spec 1.2) and every command in it.
func (b *ctrlBatch) run(w *ctrlWriter, payload []byte, maxPayload int) {
	commands, ok := ctrlEnvelope(w, payload, maxPayload)
	if !ok {
		return
	}
	for _, el := range commands {
		if !b.runOne(w, el) {
			return
		}
	}
}

// ctrlEnvelope returns the "commands" of payload, or answers why there
// are none (false).
func ctrlEnvelope(w *ctrlWriter, payload []byte, maxPayload int) ([]any, bool) {
	// Deliberate difference (f): Mosquitto parses any size; a bounded
	// request keeps a hostile admin from making the leader spend unbounded
	// memory on one message.
	if len(payload) > maxPayload {
		ctrlReply(w, "Unknown command", "Payload too large", nil)
		return nil, false
	}
	root, err := ctrlParse(payload)
	if err != nil {
		// Deliberate difference (g): jsonobj.go refuses nesting deeper than
		// maxJSONDepth; that too is answered as invalid JSON.
		ctrlReply(w, "Unknown command", "Payload not valid JSON", nil)
		return nil, false
	}
	rootObj, _ := root.(*object)
	commands, ok := rootObj.getArray("commands")
	if !ok {
		ctrlReply(w, "Unknown command", "Invalid/missing commands", nil)
		return nil, false
	}
	return commands, true
}

// runOne answers one element of "commands"; false stops the batch.
//
// Mosquitto answers an element that is not an object, or has no string
// "command", with the correlationData of an earlier element of the batch
// (a variable it never resets). That stale value belongs to another
// request, so here such answers carry no correlationData at all.
func (b *ctrlBatch) runOne(w *ctrlWriter, el any) bool {
	req, isObj := el.(*object)
	if !isObj {
		ctrlReply(w, "Unknown command", "Command not an object", nil)
		return true
	}
	name, ok := ctrlString(req, "command")
	if !ok {
		ctrlReply(w, "Unknown command", "Missing command", nil)
		return true
	}
	corr, bad := ctrlOptString(req, "correlationData")
	if bad {
		ctrlReply(w, name, "Invalid correlationData data type.", nil)
		return false
	}
	cmd, known := ctrlLookup(name)
	if !known {
		ctrlReply(w, name, "Unknown command", corr)
		return true
	}
	out := cmd.run(b, req)
	b.commit(out)
	w.open('{')
	w.fieldStr("command", cmd.name)
	switch {
	case out.errText != "":
		w.fieldStr("error", out.errText)
	case out.data != nil:
		w.key("data")
		out.data(w)
	}
	if corr != nil {
		w.fieldStr("correlationData", *corr)
	}
	w.close('}')
	return true
}

// ctrlReply writes {"command":..,"error":..[,"correlationData":..]}.
func ctrlReply(w *ctrlWriter, command, errText string, corr *string) {
	w.open('{')
	w.fieldStr("command", command)
	w.fieldStr("error", errText)
	if corr != nil {
		w.fieldStr("correlationData", *corr)
	}
	w.close('}')
}

// commit applies a command's change, if it has one, and records whom it
// kicks. Deliberate difference (b): a command that changes nothing kicks
// nobody, where Mosquitto also kicks after some refusals and no-ops.
func (b *ctrlBatch) commit(out ctrlOutcome) {
	if out.internal != nil {
		b.errs = append(b.errs, out.internal)
	}
	if out.apply == nil {
		return
	}
	if !b.changed {
		// Configs are immutable once published: the first change of the
		// batch is made on a deep copy that only this batch can see.
		b.cfg = b.cfg.Clone()
		b.changed = true
		b.kickUsers = map[string]struct{}{}
	}
	out.apply(b.cfg)
	for _, u := range out.kick.users {
		b.kickUsers[u] = struct{}{}
	}
	b.kickAnon = b.kickAnon || out.kick.anon
	b.spare = b.spare || out.kick.spare
}
