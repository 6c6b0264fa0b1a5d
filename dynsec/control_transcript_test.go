package dynsec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// ctrlTranscriptLine is one line of control-api-transcript.jsonl: the
// request (a JSON value, or raw text when it was not JSON) and the
// response Mosquitto 2.0.11 published.
type ctrlTranscriptLine struct {
	Request    json.RawMessage `json:"request"`
	RequestRaw *string         `json:"request_raw"`
	Response   json.RawMessage `json:"response"`
}

// ctrlTranscriptLines parses the transcript, for the replay and for the
// fuzz seed corpus.
func ctrlTranscriptLines(t testing.TB) []ctrlTranscriptLine {
	t.Helper()
	var lines []ctrlTranscriptLine
	for i, text := range strings.Split(strings.TrimSuffix(ctrlFixtureTranscript, "\n"), "\n") {
		var l ctrlTranscriptLine
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			t.Fatalf("transcript line %d: %v", i+1, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// payload returns the bytes that were published: the transcript stores
// JSON requests re-serialised with spaces, and Mosquitto's tools send
// them compact.
func (l ctrlTranscriptLine) payload(t testing.TB) []byte {
	t.Helper()
	if l.RequestRaw != nil {
		return []byte(*l.RequestRaw)
	}
	return ctrlCompact(t, l.Request)
}

// ctrlCompact returns JSON without insignificant space. The transcript
// holds Mosquitto's responses re-serialised; Mosquitto printed them with
// cJSON_PrintUnformatted, which writes non-ASCII raw, so a transcript
// that escaped anything but what cJSON escapes could not be compared byte
// for byte: refuse it rather than compare wrongly.
func ctrlCompact(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte(`\u`)) {
		t.Fatalf("transcript JSON uses \\u escapes; cannot rebuild Mosquitto's bytes: %s", raw)
	}
	return b.Bytes()
}

// TestControlTranscript replays the transcript in order against the
// fixture it ran against and requires Mosquitto's response byte for byte.
// None of its requests touches a deliberate difference (those are
// asserted in control_differences_test.go). It also checks what the
// transcript cannot show: which requests change the configuration and
// whom they kick, as spec 3.1 says Mosquitto kicks.
func TestControlTranscript(t *testing.T) {
	initial := ctrlLoadFixture(t)
	cfg := initial
	c := &Controller{Rand: ctrlZeroRand{}}
	// The 0-based lines that change the configuration, with their kicks.
	changes := map[int]Kicks{
		3:  {},                                      // createClient carol: no kick
		10: {Usernames: []string{"alice", "carol"}}, // addRoleACL sensor: group devices holds it
		11: {Usernames: []string{"alice", "carol"}}, // removeRoleACL sensor
		13: {Usernames: []string{"carol"}},          // deleteClient carol
	}
	lines := ctrlTranscriptLines(t)
	if len(lines) != 17 {
		t.Fatalf("transcript has %d lines, want 17", len(lines))
	}
	for i, l := range lines {
		payload := l.payload(t)
		res := ctrlHandle(t, c, cfg, string(payload))
		if want := ctrlCompact(t, l.Response); !bytes.Equal(res.Response, want) {
			t.Errorf("line %d: %s\n got %s\nwant %s", i+1, payload, res.Response, want)
		}
		kicks, mutates := changes[i]
		if res.Changed != mutates {
			t.Errorf("line %d: Changed = %v, want %v", i+1, res.Changed, mutates)
		}
		if mutates && !reflect.DeepEqual(res.Kicks, kicks) {
			t.Errorf("line %d: Kicks = %+v, want %+v", i+1, res.Kicks, kicks)
		}
		cfg = res.Config
	}
	// carol was created and deleted, an ACL added and removed: the
	// configuration is back where it started.
	if !reflect.DeepEqual(cfg, initial) {
		t.Errorf("after the transcript the configuration differs from the fixture")
	}
	if _, ok := cfg.Clients["carol"]; ok {
		t.Errorf("carol survived deleteClient")
	}
}

// TestControlTranscriptCarol checks the state between the transcript's
// createClient and deleteClient, which its responses show only in part.
func TestControlTranscriptCarol(t *testing.T) {
	cfg := ctrlLoadFixture(t)
	lines := ctrlTranscriptLines(t)
	c := &Controller{Rand: ctrlZeroRand{}}
	cfg = ctrlHandle(t, c, cfg, string(lines[3].payload(t))).Config
	carol := cfg.Clients["carol"]
	if carol == nil {
		t.Fatal("createClient did not create carol")
	}
	if carol.ClientID != "" || carol.TextName == nil || *carol.TextName != "Carol" {
		t.Errorf("carol = %+v", carol)
	}
	if !carol.Password.Verify("carolpass") || carol.Password.Iterations != DefaultIterations {
		t.Errorf("carol's password does not verify")
	}
	if got, want := ctrlGet(t, cfg, `{"command":"getClient","username":"carol"}`),
		`{"command":"getClient","data":{"client":{"username":"carol","textname":"Carol","roles":[{"rolename":"operator","priority":1}],"groups":[{"groupname":"devices"}]}}}`; got != want {
		t.Errorf("getClient carol\n got %s\nwant %s", got, want)
	}
}
