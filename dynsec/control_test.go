package dynsec

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// ctrlEnvelopeCase is a whole payload and the whole response it gets.
type ctrlEnvelopeCase struct {
	name    string
	payload string
	want    string
}

func ctrlRunEnvelope(t *testing.T, c *Controller, cases []ctrlEnvelopeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := ctrlHandle(t, c, ctrlTestConfig(t), tc.payload)
			if string(res.Response) != tc.want {
				t.Errorf("response\n got %s\nwant %s", res.Response, tc.want)
			}
		})
	}
}

// TestControlEnvelope covers spec 1.2: payload-level answers and the
// per-element rules.
func TestControlEnvelope(t *testing.T) {
	const (
		notJSON  = `{"responses":[{"command":"Unknown command","error":"Payload not valid JSON"}]}`
		missing  = `{"responses":[{"command":"Unknown command","error":"Invalid/missing commands"}]}`
		u2       = `{"command":"getClient","data":{"client":` + ctrlU2 + `}}`
		notObj   = `{"command":"Unknown command","error":"Command not an object"}`
		noComand = `{"command":"Unknown command","error":"Missing command"}`
	)
	ctrlRunEnvelope(t, &Controller{}, []ctrlEnvelopeCase{
		{"not JSON", `not json at all`, notJSON},
		{"empty", ``, notJSON},
		{"truncated", `{"commands":[`, notJSON},
		{"lone high surrogate", `{"commands":[],"x":"\ud800"}`, notJSON},
		{"lone low surrogate", `{"commands":[],"x":"\udc00\ud800"}`, notJSON},
		{"object without commands", `{}`, missing},
		{"array", `[1,2]`, missing},
		{"string", `"commands"`, missing},
		{"commands a string", `{"commands":"oops"}`, missing},
		{"commands an object", `{"commands":{"a":1}}`, missing},
		{"no commands", `{"commands":[]}`, `{"responses":[]}`},
		{"keys and names in any case", `{"Commands":[{"Command":"getclient","UserName":"u2"}]}`, `{"responses":[` + u2 + `]}`},
		{"first of duplicate keys wins", `{"commands":[{"command":"getClient","username":"u2","USERNAME":"u1"}]}`, `{"responses":[` + u2 + `]}`},
		{"elements that are not objects", `{"commands":[1,"getClient",null,[],true]}`,
			`{"responses":[` + strings.Repeat(notObj+",", 4) + notObj + `]}`},
		{"missing command", `{"commands":[{"foo":1},{"command":5,"correlationData":5}]}`, `{"responses":[` + noComand + `,` + noComand + `]}`},
		{"unknown command", `{"commands":[{"command":"noSuch\u00e9","correlationData":"c"}]}`,
			`{"responses":[{"command":"noSuché","error":"Unknown command","correlationData":"c"}]}`},
		{"NUL cuts the command name", `{"commands":[{"command":"getClient\u0000x","username":"u2"}]}`, `{"responses":[` + u2 + `]}`},
		{"correlationData after data", `{"commands":[{"command":"getClient","username":"u2","correlationData":"c-1"}]}`,
			`{"responses":[{"command":"getClient","data":{"client":` + ctrlU2 + `},"correlationData":"c-1"}]}`},
		{"correlationData after error", `{"commands":[{"command":"getClient","correlationData":""}]}`,
			`{"responses":[{"command":"getClient","error":"Invalid/missing username","correlationData":""}]}`},
		{"correlationData on a plain success", `{"commands":[{"command":"enableClient","username":"u1","correlationData":"z"}]}`,
			`{"responses":[{"command":"enableClient","correlationData":"z"}]}`},
		{"bad correlationData stops the batch", `{"commands":[{"command":"listRoles"},{"command":"LISTGROUPS","correlationData":5},{"command":"listClients"}]}`,
			`{"responses":[{"command":"listRoles","data":{"totalCount":3,"roles":["r1","r2","r3"]}},{"command":"LISTGROUPS","error":"Invalid correlationData data type."}]}`},
		// cJSON ignores what follows the first value, skips a byte-order
		// mark, and takes every byte up to 0x20 as white space.
		{"trailing data", `{"commands":[]} trailing`, `{"responses":[]}`},
		{"byte-order mark", "\xef\xbb\xbf{\"commands\":[]}", `{"responses":[]}`},
		{"control bytes as white space", "\x01{\x02\"commands\"\x1f:[]}", `{"responses":[]}`},
		{"a surrogate pair", `{"commands":[{"command":"x\ud83d\ude00"}]}`,
			`{"responses":[{"command":"x😀","error":"Unknown command"}]}`},
	})
}

// TestControlStaleCorrelationData pins deliberate difference (h):
// Mosquitto answers the second element with "correlationData":"c1".
func TestControlStaleCorrelationData(t *testing.T) {
	ctrlRunEnvelope(t, &Controller{}, []ctrlEnvelopeCase{
		{"missing command", `{"commands":[{"command":"getClient","username":"u2","correlationData":"c1"},{"foo":1},7]}`,
			`{"responses":[{"command":"getClient","data":{"client":` + ctrlU2 + `},"correlationData":"c1"},` +
				`{"command":"Unknown command","error":"Missing command"},{"command":"Unknown command","error":"Command not an object"}]}`},
	})
}

// TestControlStrings checks string handling both ways: what a request
// string becomes and how the response escapes it (as cJSON prints).
func TestControlStrings(t *testing.T) {
	ctrlRunEnvelope(t, &Controller{}, []ctrlEnvelopeCase{
		{"cJSON escaping", `{"commands":[{"command":"\"\\/<>&$\u2028\n\r\t\b\f\u0001\u001f\u007f é"}]}`,
			`{"responses":[{"command":"\"\\/<>&$` + "\u2028" + `\n\r\t\b\f\u0001\u001f` + "\x7f" + ` é","error":"Unknown command"}]}`},
		{"raw control bytes in a string", "{\"commands\":[{\"command\":\"a\x01\tb\"}]}",
			`{"responses":[{"command":"a\u0001\tb","error":"Unknown command"}]}`},
		// A byte that is not UTF-8 is refused by the validator, as
		// Mosquitto refuses it, and reads as U+FDD0 elsewhere.
		{"raw invalid UTF-8 in a name", "{\"commands\":[{\"command\":\"getClient\",\"username\":\"u\xff\"}]}",
			`{"responses":[{"command":"getClient","error":"Username not valid UTF-8"}]}`},
		{"raw invalid UTF-8 echoed", "{\"commands\":[{\"command\":\"x\xc3(\"}]}",
			`{"responses":[{"command":"x` + "\ufdd0" + `(","error":"Unknown command"}]}`},
	})
}

// TestControlPayloadLimits pins deliberate differences (f) and (g).
func TestControlPayloadLimits(t *testing.T) {
	const ok = `{"responses":[]}`
	payload := `{"commands":[]}`
	ctrlRunEnvelope(t, &Controller{MaxPayload: len(payload)}, []ctrlEnvelopeCase{
		{"at the limit", payload, ok},
		{"over the limit", payload + " ", `{"responses":[{"command":"Unknown command","error":"Payload too large"}]}`},
		{"over the limit, not even JSON", strings.Repeat("[", 100), `{"responses":[{"command":"Unknown command","error":"Payload too large"}]}`},
	})
	nest := func(depth int) string {
		return `{"commands":[` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `]}`
	}
	ctrlRunEnvelope(t, &Controller{}, []ctrlEnvelopeCase{
		{"nested within the limit", nest(maxJSONDepth - 1), `{"responses":[{"command":"Unknown command","error":"Command not an object"}]}`},
		{"nested beyond the limit", nest(maxJSONDepth), `{"responses":[{"command":"Unknown command","error":"Payload not valid JSON"}]}`},
		{"nested a thousand deep", nest(1000), `{"responses":[{"command":"Unknown command","error":"Payload not valid JSON"}]}`},
	})
	big := `{"commands":[{"command":"createClient","username":"` + strings.Repeat("x", DefaultMaxPayload) + `"}]}`
	res := ctrlHandle(t, &Controller{}, ctrlTestConfig(t), big)
	if !bytes.Contains(res.Response, []byte("Payload too large")) || res.Changed {
		t.Errorf("a payload over DefaultMaxPayload: %.100s", res.Response)
	}
}

// TestControlBatch checks that a batch runs in order, each command seeing
// the earlier ones, that an error rolls nothing back, and that kicks
// gather into one sorted set.
func TestControlBatch(t *testing.T) {
	cfg := ctrlTestConfig(t)
	res := ctrlHandle(t, &Controller{Rand: ctrlZeroRand{}}, cfg, `{"commands":[`+
		`{"command":"createClient","username":"n1","password":"p"},`+
		`{"command":"addGroupClient","groupname":"g1","username":"n1"},`+
		`{"command":"createClient","username":"n1"},`+
		`{"command":"disableClient","username":"u2"},`+
		`{"command":"removeRoleACL","rolename":"r1","acltype":"publishClientSend","topic":"a/#"},`+
		`{"command":"getGroup","groupname":"g1"},`+
		`{"command":"setAnonymousGroup","groupname":"g2"}]}`)
	want := `{"responses":[{"command":"createClient"},{"command":"addGroupClient"},` +
		`{"command":"createClient","error":"Client already exists"},{"command":"disableClient"},{"command":"removeRoleACL"},` +
		`{"command":"getGroup","data":{"group":{"groupname":"g1","clients":[{"username":"n1"},{"username":"u1"},{"username":"u2"}],"roles":[{"rolename":"r1","priority":1}]}}},` +
		`{"command":"setAnonymousGroup"}]}`
	if string(res.Response) != want {
		t.Errorf("response\n got %s\nwant %s", res.Response, want)
	}
	wantKicks := Kicks{Usernames: []string{"n1", "u1", "u2"}, Anonymous: true}
	if !res.Changed || !reflect.DeepEqual(res.Kicks, wantKicks) {
		t.Errorf("Changed %v, Kicks %+v; want true, %+v", res.Changed, res.Kicks, wantKicks)
	}
	if res.Config == cfg || res.Config.Clients["n1"] == nil || cfg.Clients["n1"] != nil {
		t.Errorf("the batch's changes are not on a new Config")
	}
	// A batch whose only command fails, or that only reads, changes nothing.
	for _, payload := range []string{
		`{"commands":[{"command":"createClient","username":"u1"}]}`,
		`{"commands":[{"command":"listClients","verbose":true},{"command":"getRole","rolename":"r1"}]}`,
	} {
		if res := ctrlHandle(t, &Controller{}, cfg, payload); res.Changed {
			t.Errorf("%s changed the configuration", payload)
		}
	}
}

// TestControlImmutable checks, besides what ctrlHandle checks for every
// request, that a Config handed back is never written by a later Handle.
func TestControlImmutable(t *testing.T) {
	c := &Controller{Rand: ctrlZeroRand{}}
	first := ctrlHandle(t, c, ctrlTestConfig(t), `{"commands":[{"command":"createClient","username":"n1","groups":[{"groupname":"g1"}]}]}`).Config
	snapshot := first.Clone()
	for _, cmd := range []string{
		`{"command":"deleteClient","username":"n1"}`,
		`{"command":"modifyClient","username":"u1","roles":[],"groups":[{"groupname":"g2"}],"textname":"x"}`,
		`{"command":"modifyGroup","groupname":"g1","clients":[],"roles":[],"textdescription":"y"}`,
		`{"command":"deleteRole","rolename":"r1"}`,
		`{"command":"addRoleACL","rolename":"r2","acltype":"publishClientSend","topic":"t"}`,
		`{"command":"removeRoleACL","rolename":"r1","acltype":"subscribeLiteral","topic":"s/1"}`,
		`{"command":"setDefaultACLAccess","acls":[{"acltype":"subscribe","allow":true}]}`,
		`{"command":"setClientPassword","username":"u1","password":"z"}`,
	} {
		res := ctrlHandle(t, c, first, `{"commands":[`+cmd+`]}`)
		if !res.Changed {
			t.Errorf("%s changed nothing", cmd)
		}
	}
	if !reflect.DeepEqual(first, snapshot) {
		t.Errorf("a published Config was modified")
	}
}

// TestControlNilConfig checks that a nil Config reads as an empty one.
func TestControlNilConfig(t *testing.T) {
	c := &Controller{Rand: ctrlZeroRand{}}
	res := ctrlHandle(t, c, nil, `{"commands":[{"command":"listClients"},{"command":"getDefaultACLAccess"}]}`)
	want := `{"responses":[{"command":"listClients","data":{"totalCount":0,"clients":[]}},{"command":"getDefaultACLAccess","data":{"acls":[{"acltype":"publishClientSend","allow":false},{"acltype":"publishClientReceive","allow":false},{"acltype":"subscribe","allow":false},{"acltype":"unsubscribe","allow":false}]}}]}`
	if string(res.Response) != want || res.Config != nil {
		t.Errorf("nil config: %s, Config %v", res.Response, res.Config)
	}
	res = ctrlHandle(t, c, nil, `{"commands":[{"command":"createRole","rolename":"r"}]}`)
	if !res.Changed || res.Config == nil || res.Config.Roles["r"] == nil {
		t.Errorf("createRole on a nil config: %s", res.Response)
	}
}

// TestControlPasswordsStayHidden checks that no response carries a
// password, a hash or a salt.
func TestControlPasswordsStayHidden(t *testing.T) {
	const secret = "s3cret-Passw0rd"
	c := &Controller{Rand: ctrlZeroRand{}}
	cfg := ctrlTestConfig(t)
	for _, cmd := range []string{
		`{"command":"createClient","username":"n1","password":"` + secret + `"}`,
		`{"command":"createClient","username":"n1","password":"` + secret + `","roles":[{"rolename":"nope"}]}`,
		`{"command":"setClientPassword","username":"u1","password":"` + secret + `"}`,
		`{"command":"modifyClient","username":"u1","password":"` + secret + `"}`,
		`{"command":"listClients","verbose":true}`,
		`{"command":"getClient","username":"u1"}`,
	} {
		res := ctrlHandle(t, c, cfg, `{"commands":[`+cmd+`]}`)
		for _, p := range res.Config.Clients {
			if p.Password == nil {
				continue
			}
			for _, leak := range [][]byte{[]byte(secret), p.Password.Hash, p.Password.Salt, []byte(`"password"`), []byte(`"salt"`)} {
				if bytes.Contains(res.Response, leak) {
					t.Errorf("%s: the response holds a password, hash or salt: %s", cmd, res.Response)
				}
			}
		}
	}
}

func TestControlPage(t *testing.T) {
	all := []string{"a", "b", "c"}
	for _, tc := range []struct {
		count, offset int
		want          []string
	}{
		{-1, 0, all}, {0, 0, all[:1]}, {1, 0, all[:1]}, {2, 1, all[1:3]}, {5, 1, all[1:]},
		{-9, 2, all[2:]}, {1, -4, all[:1]}, {1, 3, nil}, {-1, 99, nil},
	} {
		if got := ctrlPage(all, tc.count, tc.offset); !slices.Equal(got, tc.want) {
			t.Errorf("ctrlPage(count %d, offset %d) = %v, want %v", tc.count, tc.offset, got, tc.want)
		}
	}
}
