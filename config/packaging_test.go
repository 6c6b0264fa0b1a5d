package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// keyPaths lists the dotted path of every leaf key of t, with "[]" for
// the elements of a list of mappings, e.g. "mqtt.listeners[].tls.cert". A
// list of scalars is one leaf key, e.g. "cluster.etcd.endpoints".
func keyPaths(t reflect.Type, prefix string) []string {
	list := false
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		list = list || t.Kind() == reflect.Slice
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return []string{prefix}
	}
	if list {
		prefix += "[]"
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

// TestPackagedClusterSection uncomments the example's cluster section
// (without its etcd tls block, which cannot be combined with the embedded
// member; the replication certificates are replaced by test files) and
// checks that it loads and that the values it marks as defaults are the
// defaults.
func TestPackagedClusterSection(t *testing.T) {
	example, err := os.ReadFile("../packaging/triad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example = withTestCerts(t, example)
	var out []string
	in, tlsBlock, inRepl := false, false, false
	for _, line := range strings.Split(string(example), "\n") {
		switch {
		case line == "# cluster:":
			in = true
		case in && !strings.HasPrefix(line, "#"):
			in = false
		}
		if in {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
			switch strings.TrimSpace(line) {
			case "tls:":
				tlsBlock = !inRepl // etcd's
			case "embedded:":
				tlsBlock = false
			case "replication:":
				inRepl = true
			}
			if tlsBlock {
				continue
			}
		}
		out = append(out, line)
	}
	c, err := Parse([]byte(strings.Join(out, "\n")), "triad.yaml")
	if err != nil {
		t.Fatalf("Parse of the uncommented cluster section: %v", err)
	}
	got := c.Cluster
	if got == nil || got.Etcd.Embedded == nil || got.Replication == nil {
		t.Fatalf("cluster section not found or incomplete: %+v", got)
	}
	e, r := got.Etcd.Embedded, got.Replication
	want := &Config{Node: c.Node, Cluster: &Cluster{
		Name: got.Name,
		Etcd: Etcd{Embedded: &EmbeddedEtcd{
			ClientURL: e.ClientURL, PeerURL: e.PeerURL, InitialCluster: e.InitialCluster,
		}},
		Replication: &Replication{Address: r.Address, TLS: r.TLS},
	}}
	want.ApplyDefaults()
	if !reflect.DeepEqual(got, want.Cluster) {
		t.Errorf("packaged cluster values differ from the defaults:\n got %+v %+v %+v\nwant %+v %+v %+v",
			got, e, r, want.Cluster, want.Cluster.Etcd.Embedded, want.Cluster.Replication)
	}
}

// TestDocumentedConfigsLoad parses every complete configuration file shown
// in docs/configuration.md: a yaml block that starts with "node:" and has
// an mqtt section.
func TestDocumentedConfigsLoad(t *testing.T) {
	docs, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(node:.*?)```").FindAllSubmatch(docs, -1)
	n := 0
	for i, b := range blocks {
		if !strings.Contains(string(b[1]), "\nmqtt:") {
			continue
		}
		n++
		if _, err := Parse(withTestCerts(t, b[1]), fmt.Sprintf("docs-example-%d.yaml", i)); err != nil {
			t.Errorf("documented configuration %d does not load: %v\n%s", i, err, b[1])
		}
	}
	if n < 4 { // the minimal configuration and the three cluster nodes
		t.Fatalf("found %d complete configurations in the docs, want at least 4", n)
	}
}

// withTestCerts replaces the replication certificate paths of an example
// (/etc/triad/certs/...) by a test certificate, which is its own CA.
func withTestCerts(t *testing.T, doc []byte) []byte {
	t.Helper()
	certPEM, keyPEM := writeCertPair(t)
	doc = regexp.MustCompile(`/etc/triad/certs/[\w.-]+-key\.pem`).ReplaceAll(doc, []byte(keyPEM))
	return regexp.MustCompile(`/etc/triad/certs/[\w.-]+\.pem`).ReplaceAll(doc, []byte(certPEM))
}
