package dynsec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func importRequest(t *testing.T, file string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"commands": []any{map[string]string{"command": ImportCommand, "file": file}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestControlImportConfig checks importConfig: a Mosquitto file replaces
// the configuration exactly (export gives the file back byte for byte),
// everyone either configuration knows is kicked, ignored entries are
// listed, and a bad file changes nothing.
func TestControlImportConfig(t *testing.T) {
	old := ctrlTestConfig(t)
	res := ctrlHandle(t, &Controller{}, old, importRequest(t, ctrlFixtureConfig))
	want := `{"responses":[{"command":"importConfig","data":{"clients":4,"groups":2,"roles":4,"ignored":[]}}]}`
	if string(res.Response) != want || !res.Changed {
		t.Fatalf("import of the fixture: changed %v\n%s\nwant %s", res.Changed, res.Response, want)
	}
	if got := string(res.Config.MarshalFile()); got != ctrlFixtureConfig {
		t.Fatalf("the imported configuration does not export as the file it came from:\n%s", got)
	}
	wantKick := Kicks{Usernames: []string{"admin", "alice", "bob", "mallory", "u1", "u2", "u3"}, Anonymous: true, SpareRequester: true}
	if !reflect.DeepEqual(res.Kicks, wantKick) {
		t.Fatalf("kicks %+v, want %+v (old and new users, and anonymous clients)", res.Kicks, wantKick)
	}

	withDup := strings.Replace(ctrlFixtureConfig, `"groups":	[{`, `"groups":	[{"groupname": "devices"}, {`, 1)
	res = ctrlHandle(t, &Controller{}, old, importRequest(t, withDup))
	if !res.Changed || !strings.Contains(string(res.Response), `"ignored":["groups[1]`) {
		t.Fatalf("import with a duplicate group: %s; want it listed as ignored", res.Response)
	}

	for _, c := range []struct{ payload, want string }{
		{importRequest(t, "not json"), `Invalid file: `},
		{importRequest(t, "[1]"), `Invalid file: `},
		{`{"commands":[{"command":"importConfig"}]}`, `"error":"Invalid/missing file"`},
		{`{"commands":[{"command":"importConfig","file":{}}]}`, `"error":"Invalid/missing file"`},
	} {
		res := ctrlHandle(t, &Controller{}, old, c.payload)
		if res.Changed || !strings.Contains(string(res.Response), c.want) {
			t.Errorf("%s: changed %v, response %s; want an error with %q", c.payload, res.Changed, res.Response, c.want)
		}
	}
}
