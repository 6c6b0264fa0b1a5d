package config

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// agentFile is a file of another program, decoded with DecodeStrict.
type agentFile struct {
	Cluster string            `yaml:"cluster"`
	Servers map[string]string `yaml:"servers"` // free keys
	Retries int               `yaml:"retries"`
	Wait    Duration          `yaml:"wait"`
	Log     Log               `yaml:"log"`
}

var agentTop = TopLevel{Keys: "cluster, servers, retries, wait and log"}

func TestDecodeStrict(t *testing.T) {
	doc := "cluster: prod\nservers:\n  node-a: s1\n  node-b: s2\nretries: 0\nwait: ~\nlog:\n  level: debug\n"
	f := agentFile{Retries: 3, Wait: 7}
	d, err := DecodeStrict([]byte(doc), "agent.yaml", agentTop, &f)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"node-a": "s1", "node-b": "s2"}; !maps.Equal(f.Servers, want) {
		t.Errorf("servers = %v; want %v", f.Servers, want)
	}
	if f.Cluster != "prod" || f.Retries != 0 || f.Wait != 7 || f.Log.Level != "debug" {
		t.Errorf("decoded %+v; want the explicit 0 kept and the null wait left as it was", f)
	}
	for path, given := range map[string]bool{"retries": true, "servers.node-b": true, "log.level": true, "wait": false, "log.format": false} {
		if d.Given(path) != given {
			t.Errorf("Given(%q) = %v; want %v", path, !given, given)
		}
	}
	// A validation error is placed on its key's line, or on the closest
	// ancestor's when the file leaves the key out; they come in line order.
	var errs Errors
	errs.Add("log.format", "missing")
	errs.Add("servers.node-b", "no such node")
	err = d.Locate(errs.Err())
	want := "agent.yaml:4: servers.node-b: no such node\nagent.yaml:7: log.format: missing"
	if err == nil || err.Error() != want {
		t.Errorf("Locate = %v; want\n%s", err, want)
	}
}

func TestDecodeStrictErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // the whole error, a line an error
	}{
		{"unknown key", "cluster: a\nlog:\n  levl: info\n",
			[]string{`agent.yaml:3: log.levl: unknown key (did you mean "level"?)`}},
		{"unknown key without close match", "cluster: a\nzzzzzz: 1\n",
			[]string{"agent.yaml:2: zzzzzz: unknown key (known keys: cluster, servers, retries, wait, log)"}},
		{"duplicate map key", "servers:\n  a: s1\n  b: s2\n  a: s3\n",
			[]string{"agent.yaml:4: servers.a: duplicate key (first given on line 2)"}},
		{"map value of the wrong type", "servers:\n  a: [s1]\n",
			[]string{"agent.yaml:2: servers.a: expected a string, got a list"}},
		{"map value missing", "servers:\n  a:\n  b: s2\n",
			[]string{"agent.yaml:2: servers.a: missing value"}},
		{"list for a map", "cluster: a\nservers: [s1, s2]\n",
			[]string{"agent.yaml:2: servers: expected a mapping, got a list"}},
		{"every problem, in line order", "retries: many\nservers:\n  a: {x: 1}\nwait: soon\ncluster: a\ncluster: b\n", []string{
			`agent.yaml:1: retries: "many" is not an integer`,
			"agent.yaml:3: servers.a: expected a string, got a mapping",
			`agent.yaml:4: wait: "soon" is not a duration (use e.g. "10s", "1h30m", or whole seconds such as 30)`,
			"agent.yaml:6: cluster: duplicate key (first given on line 5)",
		}},
		{"empty", "# nothing\n", []string{"agent.yaml:1: empty configuration: expected a mapping with cluster, servers, retries, wait and log"}},
		{"top level list", "\n- a\n", []string{"agent.yaml:2: the top level must be a mapping, got a list"}},
		{"two documents", "cluster: a\n---\ncluster: b\n", []string{`agent.yaml:3: a second YAML document ("---") is not allowed; the configuration must be a single document`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f agentFile
			_, err := DecodeStrict([]byte(tc.doc), "agent.yaml", agentTop, &f)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("%v is not an *Error", err)
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestDecodeStrictNeedsStructPointer(t *testing.T) {
	var f agentFile
	for _, v := range []any{f, (*agentFile)(nil), new(map[string]string)} {
		if _, err := DecodeStrict([]byte("cluster: a\n"), "agent.yaml", agentTop, v); err == nil {
			t.Errorf("DecodeStrict into %T: no error", v)
		}
	}
}
