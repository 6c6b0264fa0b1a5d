package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// TopLevel says what a file's top-level mapping holds, for the errors
// about a file that has none.
type TopLevel struct {
	// Keys ends "empty configuration: expected a mapping with <Keys>",
	// e.g. "node, cluster, mqtt, http, store and log sections".
	Keys string
	// Summary, if set, ends "the top level must be a mapping of <Summary>"
	// (e.g. "sections (node, mqtt, ...)"); without it the message says
	// only "a mapping".
	Summary string
}

// Document is what DecodeStrict learnt of a file besides its values: the
// line of every key path and which key paths were given a value.
type Document struct {
	name  string
	lines lineIndex
	set   map[string]bool
}

// Given reports whether the file gave path (e.g. "haproxy.timeout") a
// value other than null. A given key keeps its value even when that is the
// zero value; one left out, or null, is for the defaults to fill.
func (d *Document) Given(path string) bool { return d.set[path] }

// Locate sets File, and Line where it is unknown, on every *Error in err
// (a single error or an errors.Join of them, as Validate returns): the line
// of the error's key path or, when the file did not give that path, of its
// closest ancestor that it did. It returns the errors in line order.
func (d *Document) Locate(err error) error { return locate(err, d.name, d.lines) }

// DecodeStrict decodes data, which must hold a single YAML document whose
// top level is a mapping, into v, a non-nil pointer to a struct whose
// fields carry yaml tags; name is the file name for error messages and top
// describes the top level for the errors about a file without one. Parse
// decodes with it.
//
// It is strict: an unknown key (with a close known key as a suggestion), a
// duplicate key and a value of the wrong type are errors, and it reports
// every one, each an *Error naming the file, the line and the key path
// (several are joined with errors.Join). A null value leaves its field as
// it is. Fields may be structs, pointers, slices, maps with string keys,
// strings, booleans, integers and yaml.Unmarshalers.
func DecodeStrict(data []byte, name string, top TopLevel, v any) (*Document, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: DecodeStrict into %T: want a non-nil pointer to a struct", v)
	}
	root, err := parseDocument(data, top)
	if err != nil {
		return nil, locate(err, name, nil)
	}
	w := walker{lines: lineIndex{"": root.Line}, set: map[string]bool{}}
	w.decode(root, "", rv.Elem())
	if err := w.errs.Err(); err != nil {
		return nil, locate(err, name, w.lines)
	}
	return &Document{name: name, lines: w.lines, set: w.set}, nil
}

// parseDocument returns the top-level mapping of the single document in data.
func parseDocument(data []byte, top TopLevel) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Line: 1, Msg: "empty configuration: expected a mapping with " + top.Keys}
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
		return nil, &Error{Line: root.Line, Msg: "empty configuration: expected a mapping with " + top.Keys}
	case root.Kind != yaml.MappingNode:
		want := "a mapping"
		if top.Summary != "" {
			want += " of " + top.Summary
		}
		return nil, &Error{Line: root.Line, Msg: fmt.Sprintf("the top level must be %s, got %s", want, describe(root))}
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
