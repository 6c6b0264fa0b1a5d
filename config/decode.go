package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	nullTag = "!!null"
	strTag  = "!!str"
	intTag  = "!!int"
	boolTag = "!!bool"
)

// walker decodes a yaml.Node tree into a Go value by reflection, strictly:
// unknown keys, duplicate keys and values of the wrong type are errors
// naming the key path, the value and the line. Unlike yaml.v3's
// KnownFields it keeps going after the first problem and records, for
// every key path, the line it was on and whether it was given a value.
type walker struct {
	lines lineIndex       // key path → line of the key (or of the list item)
	set   map[string]bool // key paths given a non-null value
	errs  Errors
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, &Error{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// decode stores n into v, which must be addressable. A null node leaves v
// untouched so that the default applies.
func (w *walker) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag {
		return
	}
	w.set[path] = true
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			w.fail(n, path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		w.decode(n, path, v.Elem())
	case reflect.Struct:
		w.decodeStruct(n, path, v)
	case reflect.Map:
		w.decodeMap(n, path, v)
	case reflect.Slice:
		w.decodeSlice(n, path, v)
	default:
		w.decodeScalar(n, path, v)
	}
}

func (w *walker) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "expected a mapping of keys, got %s", describe(n))
		return
	}
	fields, names := yamlFields(v.Type())
	w.eachKey(n, path, func(k, val *yaml.Node, kp string) {
		idx, ok := fields[k.Value]
		if !ok {
			w.fail(k, kp, "unknown key%s", suggestion(k.Value, names))
			return
		}
		w.decode(val, kp, v.Field(idx))
	})
}

// decodeMap decodes a mapping of free keys, such as triad-lbagent's
// "servers: {node: server}"; every key needs a value.
func (w *walker) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if v.Type().Key().Kind() != reflect.String {
		w.fail(n, path, "unsupported field type %s", v.Type())
		return
	}
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	w.eachKey(n, path, func(k, val *yaml.Node, kp string) {
		elem := reflect.New(v.Type().Elem()).Elem()
		w.decode(val, kp, elem)
		if !w.set[kp] {
			w.fail(val, kp, "missing value")
			return
		}
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	})
	v.Set(m)
}

// eachKey calls fn with each key of mapping n, its value and its key path,
// after recording the key's line; it reports, and skips, keys that are not
// plain strings and keys given twice.
func (w *walker) eachKey(n *yaml.Node, path string, fn func(k, val *yaml.Node, kp string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		kp := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.fail(k, kp, "duplicate key (first given on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		w.lines[kp] = k.Line
		fn(k, val, kp)
	}
}

func (w *walker) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		w.fail(n, path, "expected a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		// "[]" is the same as no list (and what Effective writes for one),
		// so it decodes to nil.
		v.Set(reflect.Zero(v.Type()))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		w.lines[ip] = item.Line
		w.decode(item, ip, s.Index(i))
	}
	v.Set(s)
}

func (w *walker) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "expected %s, got %s", kindName(v.Type()), describe(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.ShortTag() != boolTag || n.Decode(&b) != nil {
			w.fail(n, path, "%s is not a boolean (true or false)", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.decodeInt(n, path, v)
	default:
		w.fail(n, path, "unsupported field type %s", v.Type())
	}
}

func (w *walker) decodeInt(n *yaml.Node, path string, v reflect.Value) {
	var x int64
	if n.ShortTag() != intTag || n.Decode(&x) != nil {
		w.fail(n, path, "%s is not an integer", describe(n))
		return
	}
	if v.CanInt() {
		if v.OverflowInt(x) {
			w.fail(n, path, "%s is out of range %s", describe(n), intBounds(v.Type()))
			return
		}
		v.SetInt(x)
		return
	}
	if x < 0 || v.OverflowUint(uint64(x)) {
		w.fail(n, path, "%s is out of range %s", describe(n), intBounds(v.Type()))
		return
	}
	v.SetUint(uint64(x))
}

// yamlFields maps the yaml key of each exported field of struct type t to
// its index, and lists the keys in declaration order.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlKey(f)
		if name == "" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

// yamlKey is the yaml key of f, or "" if f is not decoded.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe renders a node for an error message: strings quoted, other
// scalars as written, collections by kind.
func describe(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case nullTag:
			return "an empty value"
		case strTag:
			return fmt.Sprintf("%q", n.Value)
		}
		return n.Value
	}
	return "an unexpected YAML node"
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	}
	return "an integer"
}

// intBounds renders the range of integer type t, e.g. "0..65535".
func intBounds(t reflect.Type) string {
	bits := t.Bits()
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("0..%d", uint64(1)<<bits-1)
	}
	lo := int64(-1) << (bits - 1)
	return fmt.Sprintf("%d..%d", lo, -(lo + 1))
}
