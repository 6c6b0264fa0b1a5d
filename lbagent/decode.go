package lbagent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/triadmq/triad/config"
)

// This file decodes the agent's YAML strictly, the way package config
// decodes Triad's own (its walker is not exported): it walks the yaml.Node
// tree against the Config types, reports every unknown key, duplicate key
// and ill-typed value with its line, and records which key paths the file
// gave so that defaults fill only the others. Errors are *config.Error.

const (
	nullTag = "!!null"
	strTag  = "!!str"
)

// decodeStrict decodes the single YAML document in data into v (a pointer
// to a struct). It returns the key paths given a non-null value and the
// line of every key path.
func decodeStrict(data []byte, name string, v any) (set map[string]bool, lines map[string]int, err error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, nil, locate(err, name, nil)
	}
	w := walker{lines: map[string]int{"": root.Line}, set: map[string]bool{}}
	w.decode(root, "", reflect.ValueOf(v).Elem())
	if err := w.errs.err(); err != nil {
		return nil, nil, locate(err, name, w.lines)
	}
	return w.set, w.lines, nil
}

func parseDocument(data []byte) (*yaml.Node, error) {
	const want = "expected a mapping with cluster, etcd, haproxy, servers, reconcile_interval, fallback_after and log"
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &config.Error{Line: 1, Msg: "empty configuration: " + want}
		}
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err)
	default:
		line := next.Line
		if len(next.Content) > 0 {
			line = next.Content[0].Line
		}
		return nil, &config.Error{Line: line, Msg: `a second YAML document ("---") is not allowed`}
	}
	root := doc.Content[0]
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == nullTag:
		return nil, &config.Error{Line: root.Line, Msg: "empty configuration: " + want}
	case root.Kind != yaml.MappingNode:
		return nil, &config.Error{Line: root.Line, Msg: fmt.Sprintf("the top level must be a mapping, got %s", describe(root))}
	}
	return root, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		if line, perr := strconv.Atoi(m[1]); perr == nil {
			return &config.Error{Line: line, Msg: "invalid YAML: " + m[2]}
		}
	}
	return &config.Error{Msg: "invalid YAML", Err: err}
}

type walker struct {
	lines map[string]int  // key path → line
	set   map[string]bool // key paths given a non-null value
	errs  errList
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, &config.Error{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// decode stores n into v (addressable); a null leaves v as it is, so the
// default applies.
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
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	default:
		w.fail(n, path, "unsupported field type %s", v.Type())
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

// decodeMap decodes a mapping of free keys (servers: {node: server}).
func (w *walker) decodeMap(n *yaml.Node, path string, v reflect.Value) {
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
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	})
	v.Set(m)
}

// eachKey calls fn with each key of mapping n, its value and its key path,
// after reporting non-string and duplicate keys.
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
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		w.lines[ip] = item.Line
		w.decode(item, ip, s.Index(i))
	}
	if len(n.Content) == 0 {
		s = reflect.Zero(v.Type())
	}
	v.Set(s)
}

func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
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

// suggestion returns ` (did you mean "x"?)` for a close known key, else
// the list of known keys.
func suggestion(key string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist >= 0 && bestDist <= max(2, len(best)/3) && bestDist < len(key) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known keys: " + strings.Join(known, ", ") + ")"
}

func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// errList collects *config.Errors; err joins them (nil when none).
type errList []error

func (l *errList) add(path, format string, args ...any) {
	*l = append(*l, &config.Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *errList) addCause(path string, cause error, format string, args ...any) {
	*l = append(*l, &config.Error{Path: path, Msg: fmt.Sprintf(format, args...), Err: cause})
}

func (l errList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return errors.Join(l...)
}

// locate sets File, and Line where unknown, on every *config.Error in err:
// the line of its key path or of the closest ancestor the file gave. It
// returns the errors in the order of their lines.
func locate(err error, file string, lines map[string]int) error {
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = slices.Clone(j.Unwrap())
	}
	lineOf := func(e error) int {
		var ce *config.Error
		if !errors.As(e, &ce) {
			return 0
		}
		return ce.Line
	}
	for _, e := range list {
		var ce *config.Error
		if !errors.As(e, &ce) {
			continue
		}
		ce.File = file
		for p := ce.Path; ce.Line == 0; {
			if l, ok := lines[p]; ok {
				ce.Line = l
			} else if p == "" {
				break
			}
			p = parentPath(p)
		}
	}
	if len(list) == 1 {
		return list[0]
	}
	slices.SortStableFunc(list, func(a, b error) int { return lineOf(a) - lineOf(b) })
	return errors.Join(list...)
}

func parentPath(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}
