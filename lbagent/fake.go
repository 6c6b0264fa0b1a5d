package lbagent

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemHAProxy is an in-memory Balancer and SessionCounter with one
// backend, for tests: it changes admin flags as HAProxy does, counts
// sessions, records every command in order and can be made to fail. Its
// servers' operational state is always up.
type MemHAProxy struct {
	mu       sync.Mutex
	backend  string
	servers  []ServerState
	sessions map[string]int
	cmds     []string
	fail     map[string]error // by server ("" for every command)
}

var (
	_ Balancer       = (*MemHAProxy)(nil)
	_ SessionCounter = (*MemHAProxy)(nil)
	_ Balancer       = (*Runtime)(nil)
	_ SessionCounter = (*Runtime)(nil)
)

// NewMemHAProxy returns a backend with the named servers, all ready.
func NewMemHAProxy(backend string, servers ...string) *MemHAProxy {
	m := &MemHAProxy{backend: backend, sessions: map[string]int{}, fail: map[string]error{}}
	for i, s := range servers {
		m.servers = append(m.servers, ServerState{BackendID: 1, Backend: backend, ID: i + 1, Name: s, Addr: "127.0.0.1", Op: OpRunning})
	}
	return m
}

// Commands returns the commands received so far, as HAProxy's CLI would
// read them (reads included).
func (m *MemHAProxy) Commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.cmds)
}

// Admin returns server's admin state ("" for an unknown server).
func (m *MemHAProxy) Admin(server string) Admin {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := m.find(server); i >= 0 {
		return m.servers[i].Admin()
	}
	return ""
}

// SetFlags sets a server's admin flags directly (drift: an operator, a
// reload without the state file).
func (m *MemHAProxy) SetFlags(server string, f AdminFlags) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := m.find(server); i >= 0 {
		m.servers[i].AdminFlags = f
	}
}

// SetSessions sets how many sessions server has.
func (m *MemHAProxy) SetSessions(server string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[server] = n
}

// Sessions returns how many sessions server has.
func (m *MemHAProxy) Sessions(server string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[server]
}

// Fail makes every command naming server fail with err ("" : every
// command at all); a nil err ends that.
func (m *MemHAProxy) Fail(server string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.fail, server)
		return
	}
	m.fail[server] = err
}

func (m *MemHAProxy) find(server string) int {
	return slices.IndexFunc(m.servers, func(s ServerState) bool { return s.Name == server })
}

// begin records cmd and returns the error it must fail with, if any.
func (m *MemHAProxy) begin(cmd, backend, server string) error {
	m.cmds = append(m.cmds, cmd)
	if err := m.fail[""]; err != nil {
		return err
	}
	if server != "" {
		if err := m.fail[server]; err != nil {
			return err
		}
	}
	if backend != m.backend {
		return &CommandError{Socket: "mem", Command: cmd, Response: "No such backend.", Kind: ErrNoSuchBackend}
	}
	if server != "" && m.find(server) < 0 {
		return &CommandError{Socket: "mem", Command: cmd, Response: "No such server.", Kind: ErrNoSuchServer}
	}
	return nil
}

// ServersState implements Balancer.
func (m *MemHAProxy) ServersState(_ context.Context, backend string) ([]ServerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("show servers state "+backend, backend, ""); err != nil {
		return nil, err
	}
	return slices.Clone(m.servers), nil
}

// SetServerState implements Balancer with HAProxy's flag rules: ready
// clears the forced maint and drain flags, drain sets forced drain and
// clears forced maint, maint sets forced maint.
func (m *MemHAProxy) SetServerState(_ context.Context, backend, server string, state Admin) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(fmt.Sprintf("set server %s/%s state %s", backend, server, state), backend, server); err != nil {
		return err
	}
	s := &m.servers[m.find(server)]
	switch state {
	case AdminReady:
		s.AdminFlags &^= AdminForcedMaint | AdminForcedDrain
	case AdminDrain:
		s.AdminFlags = s.AdminFlags&^AdminForcedMaint | AdminForcedDrain
	case AdminMaint:
		s.AdminFlags |= AdminForcedMaint
	default:
		return fmt.Errorf("set server %s/%s: state %q is not ready, drain or maint", backend, server, state)
	}
	return nil
}

// ShutdownSessions implements Balancer.
func (m *MemHAProxy) ShutdownSessions(_ context.Context, backend, server string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(fmt.Sprintf("shutdown sessions server %s/%s", backend, server), backend, server); err != nil {
		return err
	}
	m.sessions[server] = 0
	return nil
}

// ServerStats implements SessionCounter.
func (m *MemHAProxy) ServerStats(_ context.Context, backend string) ([]ServerStat, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("show stat "+backend+" 4 -1", backend, ""); err != nil {
		return nil, err
	}
	out := make([]ServerStat, len(m.servers))
	for i, s := range m.servers {
		status := map[Admin]string{AdminReady: "UP", AdminDrain: "DRAIN", AdminMaint: "MAINT"}[s.Admin()]
		out[i] = ServerStat{Name: s.Name, Sessions: m.sessions[s.Name], Status: status}
	}
	return out, nil
}
