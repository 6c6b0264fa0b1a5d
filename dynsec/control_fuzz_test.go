package dynsec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzHandle feeds arbitrary payloads to Handle against a small
// configuration and checks what must hold for any payload: no panic, the
// input Config untouched, a JSON response with a "responses" array of
// objects that each name a command, the input Config handed back when
// nothing changed, and a changed Config whose links are consistent.
func FuzzHandle(f *testing.F) {
	cfg := ctrlTestConfig(f)
	snapshot := cfg.Clone()
	c := &Controller{Rand: ctrlZeroRand{}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		res := c.Handle(cfg, payload)
		if !reflect.DeepEqual(cfg, snapshot) {
			t.Fatalf("Handle(%q) modified its input Config", payload)
		}
		var resp struct {
			Responses []map[string]any `json:"responses"`
		}
		if err := json.Unmarshal(res.Response, &resp); err != nil || resp.Responses == nil {
			t.Fatalf("Handle(%q): response %s is not {\"responses\":[...]}: %v", payload, res.Response, err)
		}
		for _, r := range resp.Responses {
			if _, ok := r["command"].(string); !ok {
				t.Fatalf("Handle(%q): a response without a command: %s", payload, res.Response)
			}
		}
		if !res.Changed {
			if res.Config != cfg || !reflect.DeepEqual(res.Kicks, Kicks{}) {
				t.Fatalf("Handle(%q): unchanged, but a new Config or kicks %+v", payload, res.Kicks)
			}
			return
		}
		if err := ctrlCheckLinks(res.Config); err != nil {
			t.Fatalf("Handle(%q): %v", payload, err)
		}
		if u := res.Kicks.Usernames; !slices.IsSorted(u) || len(slices.Compact(slices.Clone(u))) != len(u) {
			t.Fatalf("Handle(%q): kicks not sorted and unique: %q", payload, u)
		}
	})
}

// ctrlCheckLinks reports the first link of cfg that points nowhere or is
// repeated, or a name that disagrees with its map key.
func ctrlCheckLinks(cfg *Config) error {
	refsOK := func(owner string, refs []RoleRef) error {
		seen := map[string]bool{}
		for _, r := range refs {
			if cfg.Roles[r.Name] == nil || seen[r.Name] {
				return fmt.Errorf("%s: role link %q is dangling or repeated", owner, r.Name)
			}
			seen[r.Name] = true
		}
		return nil
	}
	for name, c := range cfg.Clients {
		if c.Username != name {
			return fmt.Errorf("client %q filed as %q", c.Username, name)
		}
		if err := refsOK("client "+name, c.Roles); err != nil {
			return err
		}
	}
	for name, g := range cfg.Groups {
		if g.Name != name {
			return fmt.Errorf("group %q filed as %q", g.Name, name)
		}
		if err := refsOK("group "+name, g.Roles); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, m := range g.Members {
			if cfg.Clients[m.Username] == nil || seen[m.Username] {
				return fmt.Errorf("group %s: member %q is dangling or repeated", name, m.Username)
			}
			seen[m.Username] = true
		}
	}
	for name, r := range cfg.Roles {
		if r.Name != name {
			return fmt.Errorf("role %q filed as %q", r.Name, name)
		}
	}
	if cfg.AnonymousGroup != "" && cfg.Groups[cfg.AnonymousGroup] == nil {
		return fmt.Errorf("anonymous group %q does not exist", cfg.AnonymousGroup)
	}
	return nil
}

// ctrlFuzzSeeds are the seed corpus beside the transcript's requests: the
// malformed payloads of spec 1.2, the parser's edge cases, and one request
// per command so the fuzzer starts from every handler.
var ctrlFuzzSeeds = map[string]string{
	"malformed-not-json":          `not json at all`,
	"malformed-empty":             ``,
	"malformed-truncated":         `{"commands":[{"command":"listClients"`,
	"malformed-no-commands":       `{}`,
	"malformed-array":             `[1,2]`,
	"malformed-commands-string":   `{"commands":"oops"}`,
	"malformed-commands-object":   `{"commands":{"a":1}}`,
	"malformed-commands-empty":    `{"commands":[]}`,
	"malformed-not-objects":       `{"commands":[1,"x",null,[],true]}`,
	"malformed-missing-command":   `{"commands":[{"command":"getClient","username":"u1","correlationData":"c1"},{"foo":1},{"command":5}]}`,
	"malformed-bad-correlation":   `{"commands":[{"command":"listRoles"},{"command":"listGroups","correlationData":5},{"command":"listClients"}]}`,
	"malformed-unknown-command":   `{"commands":[{"command":"noSuchCommand","correlationData":"x"}]}`,
	"malformed-lone-surrogate":    `{"commands":[{"command":"createClient","username":"\ud800"}]}`,
	"malformed-deep":              `{"commands":[` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `]}`,
	"malformed-trailing":          `{"commands":[{"command":"listClients"}]} trailing`,
	"malformed-bom":               "\xef\xbb\xbf{\"commands\":[{\"command\":\"listGroups\"}]}",
	"malformed-invalid-utf8":      "{\"commands\":[{\"command\":\"createClient\",\"username\":\"u\xff\",\"textname\":\"\xc3(\"}]}",
	"malformed-raw-control":       "{\"commands\":[{\"command\":\"createClient\",\"username\":\"a\x01\",\"textname\":\"t\x02\"}]}",
	"malformed-nul":               `{"commands":[{"command":"createClient\u0000x","username":"a\u0000b"}]}`,
	"malformed-case":              `{"COMMANDS":[{"Command":"GETCLIENT","USERNAME":"u1"}]}`,
	"cmd-set-default":             `{"commands":[{"command":"setDefaultACLAccess","acls":[{"acltype":"subscribe","allow":true},{"acltype":"publishClientSend","access":"allow"}]}]}`,
	"cmd-anonymous":               `{"commands":[{"command":"getAnonymousGroup"},{"command":"setAnonymousGroup","groupname":"g1"}]}`,
	"cmd-create-client":           `{"commands":[{"command":"createClient","username":"n","password":"p","clientid":"c","textname":"t","textdescription":"d","roles":[{"rolename":"r1","priority":2}],"groups":[{"groupname":"g1","priority":1}]}]}`,
	"cmd-modify-client":           `{"commands":[{"command":"modifyClient","username":"u1","clientid":"","password":"x","textname":"n","roles":[{"rolename":"r2"}],"groups":[{"groupname":"g2"}]}]}`,
	"cmd-client-misc":             `{"commands":[{"command":"setClientPassword","username":"u2","password":"p"},{"command":"setClientId","username":"u2","clientid":"i"},{"command":"disableClient","username":"u1"},{"command":"enableClient","username":"u3"},{"command":"deleteClient","username":"u2"}]}`,
	"cmd-client-roles":            `{"commands":[{"command":"addClientRole","username":"u2","rolename":"r1","priority":3},{"command":"removeClientRole","username":"u1","rolename":"r1"}]}`,
	"cmd-groups":                  `{"commands":[{"command":"createGroup","groupname":"n","roles":[{"rolename":"r1"}]},{"command":"addGroupClient","groupname":"n","username":"u1","priority":2},{"command":"removeGroupClient","groupname":"g1","username":"u2"},{"command":"addGroupRole","groupname":"g2","rolename":"r3"},{"command":"removeGroupRole","groupname":"g1","rolename":"r1"},{"command":"deleteGroup","groupname":"g2"}]}`,
	"cmd-modify-group":            `{"commands":[{"command":"modifyGroup","groupname":"anon","textname":"A","roles":[{"rolename":"r1"}],"clients":[{"username":"u1","priority":1}]}]}`,
	"cmd-roles":                   `{"commands":[{"command":"createRole","rolename":"n","acls":[{"acltype":"publishClientSend","topic":"a/#","priority":1,"allow":true}]},{"command":"addRoleACL","rolename":"n","acltype":"subscribePattern","topic":"b/+"},{"command":"removeRoleACL","rolename":"r1","acltype":"publishClientSend","topic":"a/#"},{"command":"modifyRole","rolename":"r2","acls":[]},{"command":"deleteRole","rolename":"r1"}]}`,
	"cmd-lists":                   `{"commands":[{"command":"listClients","verbose":true,"count":1,"offset":1},{"command":"listGroups","verbose":true},{"command":"listRoles","verbose":true,"count":0},{"command":"getClient","username":"u1"},{"command":"getGroup","groupname":"g1"},{"command":"getRole","rolename":"r1"},{"command":"getDefaultACLAccess"}]}`,
	"cmd-delete-anonymous-group":  `{"commands":[{"command":"deleteGroup","groupname":"anon"}]}`,
	"cmd-modify-client-atomicity": `{"commands":[{"command":"modifyClient","username":"u1","textname":"BEFORE-ERR","roles":[{"rolename":"nope"}]}]}`,
}

// ctrlCorpusDir is where go test finds FuzzHandle's seed corpus.
var ctrlCorpusDir = filepath.Join("testdata", "fuzz", "FuzzHandle")

// ctrlCorpus returns the seed corpus by file name: the transcript's
// requests and ctrlFuzzSeeds.
func ctrlCorpus(t *testing.T) map[string]string {
	corpus := map[string]string{}
	for i, l := range ctrlTranscriptLines(t) {
		corpus[fmt.Sprintf("transcript-%02d", i+1)] = string(l.payload(t))
	}
	for name, payload := range ctrlFuzzSeeds {
		corpus[name] = payload
	}
	return corpus
}

// ctrlCorpusFile is payload in Go's fuzz corpus file format.
func ctrlCorpusFile(payload string) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(payload) + ")\n"
}

// TestControlFuzzCorpus keeps the committed seed corpus in step with the
// transcript and ctrlFuzzSeeds. CTRL_WRITE_CORPUS=1 rewrites it.
func TestControlFuzzCorpus(t *testing.T) {
	corpus := ctrlCorpus(t)
	if os.Getenv("CTRL_WRITE_CORPUS") == "1" {
		if err := os.MkdirAll(ctrlCorpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, payload := range corpus {
			if err := os.WriteFile(filepath.Join(ctrlCorpusDir, name), []byte(ctrlCorpusFile(payload)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, payload := range corpus {
		data, err := os.ReadFile(filepath.Join(ctrlCorpusDir, name))
		if err != nil {
			t.Errorf("seed %s: %v (CTRL_WRITE_CORPUS=1 writes the corpus)", name, err)
			continue
		}
		if string(data) != ctrlCorpusFile(payload) {
			t.Errorf("seed %s is stale (CTRL_WRITE_CORPUS=1 rewrites the corpus)", name)
		}
	}
}
