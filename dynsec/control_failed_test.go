package dynsec

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFailedResponse(t *testing.T) {
	type reply struct {
		Command         string `json:"command"`
		Error           string `json:"error"`
		CorrelationData string `json:"correlationData,omitempty"`
	}
	for _, c := range []struct {
		name, payload string
		want          []reply
	}{
		{"every command answered with its correlation data",
			`{"commands":[{"command":"createClient","username":"u","correlationData":"c1"},{"command":"listClients"}]}`,
			[]reply{{"createClient", "Cluster unavailable", "c1"}, {"listClients", "Cluster unavailable", ""}}},
		{"not JSON", `{"commands":`, []reply{{"Unknown command", "Payload not valid JSON", ""}}},
		{"no commands", `{}`, []reply{{"Unknown command", "Invalid/missing commands", ""}}},
		{"a command that is not an object", `{"commands":[1,{"command":"x"}]}`,
			[]reply{{"Unknown command", "Command not an object", ""}, {"x", "Cluster unavailable", ""}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got struct{ Responses []reply }
			raw := FailedResponse([]byte(c.payload), "Cluster unavailable", 0)
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("response %s: %v", raw, err)
			}
			if !reflect.DeepEqual(got.Responses, c.want) {
				t.Fatalf("FailedResponse(%s) = %s, want %+v", c.payload, raw, c.want)
			}
		})
	}
}
