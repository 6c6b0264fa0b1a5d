package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a configuration. Validate reports each problem as
// an Error with Path and Msg set; Load and Parse also fill in File and Line. Msg names the
// offending value. Err, if set, is the underlying cause (an *fs.PathError's
// inner error, a TLS loading error, ...) and is reachable with errors.Is/As.
type Error struct {
	File string // file name as given to Load or Parse; empty from Validate
	Line int    // 1-based line in File; 0 if unknown
	Path string // dotted key path, e.g. "mqtt.listeners[0].type"; empty for the whole file
	Msg  string // what is wrong, naming the value, e.g. `"udp" is not one of tcp, tls, websocket`
	Err  error  // optional cause
}

// Error formats e as "file:line: path: msg: cause", leaving out empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errors collects the problems a validation finds, each an *Error with Path
// and Msg set; Err returns them as one error. Validate builds one, and so
// can a package that checks its own file against config's types.
type Errors []error

// Add records a problem at key path; format and args say what is wrong,
// naming the offending value.
func (l *Errors) Add(path, format string, args ...any) {
	*l = append(*l, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// AddCause is Add with an underlying cause, kept as the *Error's Err.
func (l *Errors) AddCause(path string, cause error, format string, args ...any) {
	*l = append(*l, &Error{Path: path, Msg: fmt.Sprintf(format, args...), Err: cause})
}

// Err returns nil when l is empty, its only error, or all of them joined
// with errors.Join.
func (l Errors) Err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return errors.Join(l...)
}

// lineIndex maps key paths seen in the file to their line. The empty path
// is the top-level mapping.
type lineIndex map[string]int

// lineFor returns the line of path or, when path was not in the file (a
// missing key, a defaulted listener id), of its closest ancestor that was.
func (ix lineIndex) lineFor(path string) int {
	for {
		if l, ok := ix[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// parentPath strips the last ".key" or "[i]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// locate sets File, and Line where it is unknown, on every *Error in err (a
// single error or an errors.Join of them), and returns the errors in the
// order of their lines.
func locate(err error, file string, ix lineIndex) error {
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = slices.Clone(j.Unwrap())
	}
	lineOf := func(e error) int {
		var ce *Error
		if !errors.As(e, &ce) {
			return 0
		}
		return ce.Line
	}
	for _, e := range list {
		var ce *Error
		if errors.As(e, &ce) {
			ce.File = file
			if ce.Line == 0 {
				ce.Line = ix.lineFor(ce.Path)
			}
		}
	}
	if len(list) == 1 {
		return list[0]
	}
	slices.SortStableFunc(list, func(a, b error) int { return lineOf(a) - lineOf(b) })
	return errors.Join(list...)
}
