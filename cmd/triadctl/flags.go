package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// errHelp asks for the usage text on stdout and exit status 0.
var errHelp = errors.New("help requested")

// flagDef is one flag: global flags are accepted by every command, the
// others only by the commands that list them. A repeatable flag keeps every
// value given (cmdLine.lists); any other keeps the last.
type flagDef struct {
	name       string
	isBool     bool
	global     bool
	repeatable bool
}

var flagDefs = []flagDef{
	{name: "etcd", global: true},
	{name: "cluster", global: true},
	{name: "config", global: true},
	{name: "timeout", global: true},
	{name: "json", isBool: true},
	{name: "watch", isBool: true},
	{name: "force", isBool: true},
	{name: "to"},
	{name: "dir"},
	{name: "node", repeatable: true},
	{name: "days"},
}

func lookupFlag(name string) (flagDef, bool) {
	i := slices.IndexFunc(flagDefs, func(d flagDef) bool { return d.name == name })
	if i < 0 {
		return flagDef{}, false
	}
	return flagDefs[i], true
}

// cmdLine is a parsed command line.
type cmdLine struct {
	cmd   string
	args  []string            // positional arguments after the command
	flags map[string]string   // flag name -> value ("true"/"false" for booleans)
	lists map[string][]string // repeatable flag name -> every value, in order
}

// parseArgs splits args into the command, its positional arguments and
// flags. Flags may come before or after the command and its arguments, as
// -name, --name, -name=value or --name value; "--" ends the flags. Whether a
// flag suits the command is checked later (checkFlags).
func parseArgs(args []string) (*cmdLine, error) {
	cl := &cmdLine{flags: map[string]string{}, lists: map[string][]string{}}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "h" || name == "help" {
			return nil, errHelp
		}
		def, ok := lookupFlag(name)
		if !ok {
			return nil, usagef("unknown flag %q", a)
		}
		switch {
		case def.isBool && !hasValue:
			value = "true"
		case def.isBool:
			b, err := strconv.ParseBool(value)
			if err != nil {
				return nil, usagef("--%s=%q: want true or false", name, value)
			}
			value = strconv.FormatBool(b)
		case !hasValue:
			if i+1 == len(args) || strings.HasPrefix(args[i+1], "--") {
				return nil, usagef("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if !def.isBool && value == "" {
			return nil, usagef("--%s needs a non-empty value", name)
		}
		cl.flags[name] = value
		if def.repeatable {
			cl.lists[name] = append(cl.lists[name], value)
		}
	}
	if len(pos) > 0 {
		cl.cmd, cl.args = pos[0], pos[1:]
	}
	return cl, nil
}

// checkFlags rejects a flag the command does not take.
func (cl *cmdLine) checkFlags(allowed []string) error {
	for name := range cl.flags {
		def, _ := lookupFlag(name)
		if !def.global && !slices.Contains(allowed, name) {
			return usagef("%s does not take --%s", cl.cmd, name)
		}
	}
	return nil
}

func (cl *cmdLine) bool(name string) bool { return cl.flags[name] == "true" }

// nodeArg returns the command's single NODE argument.
func (cl *cmdLine) nodeArg() (string, error) {
	switch len(cl.args) {
	case 0:
		return "", usagef("%s: missing NODE argument (the name of a node, as in its node.name)", cl.cmd)
	case 1:
		return validNode(cl.args[0])
	default:
		return "", usagef("%s takes one NODE argument, got %d: %q", cl.cmd, len(cl.args), cl.args)
	}
}

// noArgs rejects positional arguments for a command that takes none.
func (cl *cmdLine) noArgs() error {
	if len(cl.args) > 0 {
		return usagef("%s takes no arguments, got %q", cl.cmd, cl.args)
	}
	return nil
}

// nameRE is the rule for node and cluster names (as in the node config).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

func validNode(name string) (string, error) {
	if !nameRE.MatchString(name) {
		return "", usagef("%q is not a node name: 1 to 63 characters from A-Z a-z 0-9 . _ -", name)
	}
	return name, nil
}

// parseEndpoints splits a comma-separated list of etcd client URLs. A bare
// host:port means http://host:port.
func parseEndpoints(s, source string) ([]string, error) {
	var eps []string
	for ep := range strings.SplitSeq(s, ",") {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		if !strings.Contains(ep, "://") {
			ep = "http://" + ep
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("%s: %q is not an etcd client URL such as http://10.0.0.1:2379", source, ep)
		}
		eps = append(eps, ep)
	}
	if len(eps) == 0 {
		return nil, usagef("%s: no etcd URL in %q", source, s)
	}
	return eps, nil
}

func parseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--timeout %q: want a positive duration such as 10s, 500ms or 2m", s)
	}
	return d, nil
}
