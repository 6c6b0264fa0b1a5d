package lbagent

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// AdminFlags is a server's srv_admin_state in `show servers state`: a bit
// set (HAProxy's enum srv_admin, include/haproxy/server-t.h).
type AdminFlags uint32

const (
	AdminForcedMaint   AdminFlags = 0x01 // set server state maint
	AdminInheritMaint  AdminFlags = 0x02 // maintenance inherited from a tracked server
	AdminConfigMaint   AdminFlags = 0x04 // "disabled" in the configuration (a marker: maint only with 0x01)
	AdminForcedDrain   AdminFlags = 0x08 // set server state drain
	AdminInheritDrain  AdminFlags = 0x10 // drain inherited from a tracked server
	AdminResolveMaint  AdminFlags = 0x20 // its address did not resolve
	AdminHostnameMaint AdminFlags = 0x40 // FQDN set from the CLI (a marker)

	adminMaintMask = AdminForcedMaint | AdminInheritMaint | AdminResolveMaint
	adminDrainMask = AdminForcedDrain | AdminInheritDrain
)

// OpState is a server's srv_op_state: what its health checks say.
type OpState int

const (
	OpStopped  OpState = 0 // down
	OpStarting OpState = 1 // up, in slowstart
	OpRunning  OpState = 2 // up
	OpStopping OpState = 3 // up, going down (soft-stop)
)

func (o OpState) String() string {
	switch o {
	case OpStopped:
		return "down"
	case OpStarting:
		return "starting"
	case OpRunning:
		return "up"
	case OpStopping:
		return "stopping"
	}
	return fmt.Sprintf("op-state-%d", int(o))
}

// Admin is the administrative state the agent sets with
// `set server B/S state ...`.
type Admin string

const (
	AdminReady Admin = "ready" // takes new clients if its health checks pass
	AdminDrain Admin = "drain" // keeps its clients, takes no new ones
	AdminMaint Admin = "maint" // takes no clients; its checks pause
)

// ServerState is one row of `show servers state BACKEND`.
type ServerState struct {
	BackendID   int
	Backend     string
	ID          int
	Name        string
	Addr        string
	Port        int // 0 if HAProxy did not report one
	Op          OpState
	AdminFlags  AdminFlags
	CheckHealth int // srv_check_health: 0..rise+fall-1
}

// Admin summarises the admin flags: maint if any maintenance flag is set,
// else drain if any drain flag is, else ready.
func (s ServerState) Admin() Admin {
	switch {
	case s.AdminFlags&adminMaintMask != 0:
		return AdminMaint
	case s.AdminFlags&adminDrainMask != 0:
		return AdminDrain
	}
	return AdminReady
}

// String is e.g. "maint (down)" or "ready (up)": the admin state, then
// what the health checks say.
func (s ServerState) String() string { return fmt.Sprintf("%s (%s)", s.Admin(), s.Op) }

// ServersState runs `show servers state BACKEND` and returns its servers
// in HAProxy's order.
func (r *Runtime) ServersState(ctx context.Context, backend string) ([]ServerState, error) {
	if err := CheckName("backend", backend); err != nil {
		return nil, err
	}
	cmd := "show servers state " + backend
	resp, err := r.Do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	states, err := parseServersState(resp)
	if err != nil {
		text := strings.TrimSpace(resp)
		return nil, &CommandError{Socket: r.String(), Command: cmd, Response: text, Kind: kindOf(text, err)}
	}
	return states, nil
}

// kindOf classifies the text of an answer that did not parse: HAProxy's
// own error, or (err) something else.
func kindOf(text string, err error) error {
	if k := classify(text); k != ErrRejected {
		return k
	}
	return fmt.Errorf("%w: %w", ErrRejected, err)
}

// parseServersState parses `show servers state` output, format version 1:
//
//	1
//	# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
//	2 triad 1 n1 10.0.0.1 2 0 1 1 ...
//
// Columns are found by the header's names, so columns added by later
// versions do not matter.
func parseServersState(resp string) ([]ServerState, error) {
	lines := strings.Split(strings.TrimSpace(resp), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("not a version 1 server state dump (first line %q)", clip(lines[0], 80))
	}
	header, ok := strings.CutPrefix(lines[1], "# ")
	if !ok {
		return nil, fmt.Errorf("no column header (line 2 %q)", clip(lines[1], 80))
	}
	col := map[string]int{}
	for i, name := range strings.Fields(header) {
		col[name] = i
	}
	for _, need := range []string{"be_id", "be_name", "srv_id", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("column %s missing from header %q", need, clip(header, 120))
		}
	}
	var out []ServerState
	for i, line := range lines[2:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		s, err := parseStateRow(strings.Fields(line), col)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", i+3, clip(line, 120), err)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseStateRow(f []string, col map[string]int) (ServerState, error) {
	var errs []error
	str := func(name string) string {
		i, ok := col[name]
		if !ok || i >= len(f) {
			return ""
		}
		return f[i]
	}
	num := func(name string, required bool) int {
		v := str(name)
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			if required { // an optional column may say "-"
				errs = append(errs, fmt.Errorf("%s %q is not a number", name, v))
			}
			return 0
		}
		return n
	}
	s := ServerState{
		BackendID:   num("be_id", true),
		Backend:     str("be_name"),
		ID:          num("srv_id", true),
		Name:        str("srv_name"),
		Addr:        str("srv_addr"),
		Port:        num("srv_port", false),
		Op:          OpState(num("srv_op_state", true)),
		AdminFlags:  AdminFlags(num("srv_admin_state", true)),
		CheckHealth: num("srv_check_health", false),
	}
	if s.Name == "" || s.Backend == "" {
		errs = append(errs, errors.New("too few columns"))
	}
	return s, errors.Join(errs...)
}

// SetServerState runs `set server BACKEND/SERVER state ready|drain|maint`.
// HAProxy answers nothing on success.
func (r *Runtime) SetServerState(ctx context.Context, backend, server string, state Admin) error {
	if err := checkServerRef(backend, server); err != nil {
		return err
	}
	switch state {
	case AdminReady, AdminDrain, AdminMaint:
	default:
		return fmt.Errorf("set server %s/%s: state %q is not ready, drain or maint", backend, server, state)
	}
	return r.exec(ctx, fmt.Sprintf("set server %s/%s state %s", backend, server, state))
}

// ShutdownSessions runs `shutdown sessions server BACKEND/SERVER`: every
// client connection through that server is closed at once, so its clients
// reconnect (and reach the server that is ready).
func (r *Runtime) ShutdownSessions(ctx context.Context, backend, server string) error {
	if err := checkServerRef(backend, server); err != nil {
		return err
	}
	return r.exec(ctx, fmt.Sprintf("shutdown sessions server %s/%s", backend, server))
}

// ServerStat is a server's row of `show stat`, the fields the agent uses.
type ServerStat struct {
	Name     string
	Sessions int    // scur: current sessions
	Status   string // e.g. "UP", "DOWN", "MAINT", "DRAIN", "no check"
}

// ServerStats runs `show stat BACKEND 4 -1` (the servers of one backend)
// and returns each server's current sessions and status.
func (r *Runtime) ServerStats(ctx context.Context, backend string) ([]ServerStat, error) {
	if err := CheckName("backend", backend); err != nil {
		return nil, err
	}
	cmd := "show stat " + backend + " 4 -1"
	resp, err := r.Do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	stats, err := parseStat(resp)
	if err != nil {
		text := strings.TrimSpace(resp)
		return nil, &CommandError{Socket: r.String(), Command: cmd, Response: text, Kind: kindOf(text, err)}
	}
	return stats, nil
}

// parseStat parses `show stat` CSV: a "# pxname,svname,..." header, then
// one row per proxy or server. Only server rows (type 2) are returned.
func parseStat(resp string) ([]ServerStat, error) {
	header, body, _ := strings.Cut(strings.TrimSpace(resp), "\n")
	names, ok := strings.CutPrefix(header, "# ")
	if !ok {
		return nil, fmt.Errorf("no CSV header (first line %q)", clip(header, 80))
	}
	col := map[string]int{}
	for i, n := range strings.Split(names, ",") {
		col[n] = i
	}
	for _, need := range []string{"svname", "scur", "status", "type"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("column %s missing from the CSV header", need)
		}
	}
	rd := csv.NewReader(strings.NewReader(body))
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("CSV: %w", err)
	}
	var out []ServerStat
	for _, row := range rows {
		if len(row) <= max(col["svname"], col["scur"], col["status"], col["type"]) {
			return nil, fmt.Errorf("row %q has too few fields", clip(strings.Join(row, ","), 80))
		}
		if row[col["type"]] != "2" { // 0 frontend, 1 backend, 2 server, 3 listener
			continue
		}
		n, err := strconv.Atoi(row[col["scur"]])
		if err != nil {
			return nil, fmt.Errorf("server %s: scur %q is not a number", row[col["svname"]], row[col["scur"]])
		}
		out = append(out, ServerStat{Name: row[col["svname"]], Sessions: n, Status: row[col["status"]]})
	}
	return out, nil
}
