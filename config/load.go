package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Load reads, strictly decodes, defaults and validates the configuration file
// at path. See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse strictly decodes data (one YAML document holding a mapping), applies
// the defaults to every key the document leaves out, and validates the
// result. name is used in error messages, normally the file's path.
//
// Every error is an *Error (several are joined with errors.Join) that names
// the file, the line, the dotted key path and the offending value, e.g.
//
//	triad.yaml:7: mqtt.listeners[0].type: "udp" is not one of tcp, tls, websocket
//
// A key present in the document keeps its value even when that value is the
// zero value: "max_packet_size: 0" means the protocol maximum, and
// "max_inflight: 0" is reported as invalid rather than silently defaulted.
func Parse(data []byte, name string) (*Config, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, locate(err, name, nil)
	}
	c := &Config{}
	w := walker{lines: lineIndex{"": root.Line}, set: map[string]bool{}}
	w.decode(root, "", reflect.ValueOf(c).Elem())
	if err := w.errs.err(); err != nil {
		return nil, locate(err, name, w.lines)
	}
	c.applyDefaults(func(path string) bool { return w.set[path] })
	if err := c.Validate(); err != nil {
		return nil, locate(err, name, w.lines)
	}
	return c, nil
}

// parseDocument returns the top-level mapping of the single document in data.
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Line: 1, Msg: "empty configuration: expected a mapping with node, cluster, mqtt, http, store and log sections"}
		}
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err)
	default:
		return nil, &Error{Line: docLine(&next), Msg: "a second YAML document (\"---\") is not allowed; the configuration must be a single document"}
	}
	root := doc.Content[0]
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == nullTag:
		return nil, &Error{Line: root.Line, Msg: "empty configuration: expected a mapping with node, cluster, mqtt, http, store and log sections"}
	case root.Kind != yaml.MappingNode:
		return nil, &Error{Line: root.Line, Msg: fmt.Sprintf("the top level must be a mapping of sections (node, mqtt, ...), got %s", describe(root))}
	}
	return root, nil
}

// docLine is the line where a document's content starts.
func docLine(doc *yaml.Node) int {
	if len(doc.Content) > 0 {
		return doc.Content[0].Line
	}
	return doc.Line
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 parse error into an *Error carrying its line.
func syntaxError(err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		if line, perr := strconv.Atoi(m[1]); perr == nil {
			return &Error{Line: line, Msg: "invalid YAML: " + m[2]}
		}
	}
	return &Error{Msg: "invalid YAML", Err: err}
}
