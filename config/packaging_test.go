package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// keyPaths lists the dotted path of every leaf key of t, with "[]" for
// list elements, e.g. "mqtt.listeners[].tls.cert".
func keyPaths(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			prefix += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return []string{prefix}
	}
	var out []string
	for i := range t.NumField() {
		if key := yamlKey(t.Field(i)); key != "" {
			out = append(out, keyPaths(t.Field(i).Type, joinPath(prefix, key))...)
		}
	}
	return out
}

func TestPackagedConfigLoads(t *testing.T) {
	c, err := Load("../packaging/triad.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Node.DataDir != "/var/lib/triad" {
		t.Errorf("data_dir = %q", c.Node.DataDir)
	}
	// The example shows the defaults, so it must equal a defaulted config.
	want := &Config{Node: c.Node, MQTT: MQTT{Listeners: c.MQTT.Listeners}, HTTP: c.HTTP}
	want.ApplyDefaults()
	if !reflect.DeepEqual(c, want) {
		t.Errorf("packaged values differ from the defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestEveryKeyIsDocumented(t *testing.T) {
	example, err := os.ReadFile("../packaging/triad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range keyPaths(reflect.TypeFor[Config](), "") {
		t.Run(path, func(t *testing.T) {
			if !strings.Contains(string(docs), "`"+path+"`") {
				t.Errorf("docs/configuration.md does not document `%s`", path)
			}
			leaf := path[strings.LastIndex(path, ".")+1:]
			// Shown as a key, possibly commented out: "  # key:" or "  - key:".
			re := regexp.MustCompile(`(?m)^[\s#-]*` + regexp.QuoteMeta(leaf) + `:`)
			if !re.Match(example) {
				t.Errorf("packaging/triad.yaml does not show %s", leaf)
			}
		})
	}
}
