package dynsec

import (
	"reflect"
	"strings"
	"testing"
)

// TestControlDeliberateDifferences asserts each deliberate difference
// from Mosquitto 2.0.11 (listed in control.go) against the fixture the
// transcript ran against: what Triad answers and does, beside what
// Mosquitto answers and does according to the spec, which must differ.
func TestControlDeliberateDifferences(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup string // commands that must succeed first
		req   string // the payload
		// Triad's response, change and kicks.
		want    string
		changed bool
		kicks   Kicks
		check   func(t *testing.T, cfg *Config)
		// Mosquitto's response and kicks (spec 1-3); "" when it sends none.
		mosquitto      string
		mosquittoKicks Kicks
	}{
		{name: "(a) a refused modifyClient changes nothing",
			req:   `{"commands":[{"command":"modifyClient","username":"alice","textname":"BEFORE-ERR","roles":[{"rolename":"nope"}]}]}`,
			want:  `{"responses":[{"command":"modifyClient","error":"Role not found"}]}`,
			check: ctrlWantClient("alice", `{"username":"alice","clientid":"alice-device","roles":[],"groups":[{"groupname":"devices"}]}`),
			// Same answer, but Mosquitto keeps textname "BEFORE-ERR" and kicks alice.
			mosquitto:      `{"responses":[{"command":"modifyClient","error":"Role not found"}]}`,
			mosquittoKicks: ctrlKickUsers("alice")},
		{name: "(b) a refused addGroupClient kicks nobody",
			req:            `{"commands":[{"command":"addGroupClient","groupname":"devices","username":"alice"}]}`,
			want:           `{"responses":[{"command":"addGroupClient","error":"Client is already in this group"}]}`,
			mosquitto:      `{"responses":[{"command":"addGroupClient","error":"Client is already in this group"}]}`,
			mosquittoKicks: ctrlKickUsers("alice")},
		{name: "(c) deleteRole reaches holders linked by createClient",
			setup:   `{"command":"createClient","username":"x","roles":[{"rolename":"operator"}]}`,
			req:     `{"commands":[{"command":"deleteRole","rolename":"operator"}]}`,
			want:    `{"responses":[{"command":"deleteRole"}]}`,
			changed: true, kicks: ctrlKickUsers("bob", "x"),
			check: ctrlWantClient("x", `{"username":"x","roles":[],"groups":[]}`),
			// Mosquitto misses x, whose getClient then shows a garbage role.
			mosquitto:      `{"responses":[{"command":"deleteRole"}]}`,
			mosquittoKicks: ctrlKickUsers("bob")},
		{name: "(d) deleteGroup of the anonymous group is refused",
			req:  `{"commands":[{"command":"deleteGroup","groupname":"guests"}]}`,
			want: `{"responses":[{"command":"deleteGroup","error":"Deleting the anonymous group is forbidden"}]}`,
			// Mosquitto 2.0.11 crashed during this request.
			mosquitto: ""},
		{name: "(e) setDefaultACLAccess takes mosquitto_ctrl's access form",
			req:     `{"commands":[{"command":"setDefaultACLAccess","acls":[{"acltype":"publishClientSend","access":"allow"}]}]}`,
			want:    `{"responses":[{"command":"setDefaultACLAccess"}]}`,
			changed: true,
			check: func(t *testing.T, cfg *Config) {
				if !cfg.Default.PublishClientSend {
					t.Errorf("publishClientSend is still denied")
				}
			},
			// Mosquitto answers the same but changes nothing.
			mosquitto: `{"responses":[{"command":"setDefaultACLAccess"}]}`},
		{name: "(f) a payload over MaxPayload is not read",
			req:       `{"commands":[{"command":"listGroups"}]}` + strings.Repeat(" ", DefaultMaxPayload),
			want:      `{"responses":[{"command":"Unknown command","error":"Payload too large"}]}`,
			mosquitto: `{"responses":[{"command":"listGroups","data":{"totalCount":2,"groups":["devices","guests"]}}]}`},
		{name: "(g) nesting beyond jsonobj.go's limit is not valid JSON",
			req:       `{"commands":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`,
			want:      `{"responses":[{"command":"Unknown command","error":"Payload not valid JSON"}]}`,
			mosquitto: `{"responses":[{"command":"Unknown command","error":"Command not an object"}]}`},
		{name: "(h) no stale correlationData",
			req:       `{"commands":[{"command":"getAnonymousGroup","correlationData":"c1"},{"foo":1}]}`,
			want:      `{"responses":[{"command":"getAnonymousGroup","data":{"group":{"groupname":"guests"}},"correlationData":"c1"},{"command":"Unknown command","error":"Missing command"}]}`,
			mosquitto: `{"responses":[{"command":"getAnonymousGroup","data":{"group":{"groupname":"guests"}},"correlationData":"c1"},{"command":"Unknown command","error":"Missing command","correlationData":"c1"}]}`},
		{name: "(i) modifyGroup kicks the members it removes",
			req:     `{"commands":[{"command":"modifyGroup","groupname":"devices","clients":[{"username":"bob"}]}]}`,
			want:    `{"responses":[{"command":"modifyGroup"}]}`,
			changed: true, kicks: ctrlKickUsers("alice", "bob"),
			mosquitto:      `{"responses":[{"command":"modifyGroup"}]}`,
			mosquittoKicks: ctrlKickUsers("bob")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ctrlLoadFixture(t)
			if tc.setup != "" {
				cfg = ctrlMust(t, cfg, tc.setup)
			}
			res := ctrlHandle(t, &Controller{Rand: ctrlZeroRand{}}, cfg, tc.req)
			if string(res.Response) != tc.want {
				t.Errorf("response\n got %s\nwant %s", res.Response, tc.want)
			}
			if res.Changed != tc.changed || !reflect.DeepEqual(res.Kicks, tc.kicks) {
				t.Errorf("Changed %v, Kicks %+v; want %v, %+v", res.Changed, res.Kicks, tc.changed, tc.kicks)
			}
			if tc.check != nil {
				tc.check(t, res.Config)
			}
			// Each case must show a difference from Mosquitto: in the
			// response, in the kicks, or in the state check above.
			if tc.want == tc.mosquitto && reflect.DeepEqual(tc.kicks, tc.mosquittoKicks) && tc.check == nil {
				t.Errorf("the case shows no difference from Mosquitto")
			}
		})
	}
}
