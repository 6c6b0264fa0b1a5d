package lbagent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecideGoal(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	etcdDown := errors.New("etcd down")
	const fallback = 15 * time.Second
	for _, tc := range []struct {
		name     string
		k        knowledge
		now      time.Time
		fallback time.Duration
		want     goalKind
		leader   string
		stale    bool
	}{
		{name: "leader known", k: knowledge{leader: "n2", epoch: 7}, now: t0, fallback: fallback, want: goalLeader, leader: "n2"},
		{name: "etcd blip keeps the last leader",
			k:   knowledge{leader: "n2", epoch: 7, etcdErr: etcdDown, unknownSince: t0},
			now: t0.Add(14 * time.Second), fallback: fallback, want: goalLeader, leader: "n2", stale: true},
		{name: "long etcd outage falls back to health checks",
			k:   knowledge{leader: "n2", epoch: 7, etcdErr: etcdDown, unknownSince: t0},
			now: t0.Add(fallback), fallback: fallback, want: goalFallback},
		{name: "long etcd outage without fallback keeps the last leader",
			k:   knowledge{leader: "n2", epoch: 7, etcdErr: etcdDown, unknownSince: t0},
			now: t0.Add(time.Hour), fallback: 0, want: goalLeader, leader: "n2", stale: true},
		{name: "no leader key holds", k: knowledge{unknownSince: t0}, now: t0.Add(time.Second), fallback: fallback, want: goalHold},
		{name: "no leader key for long falls back", k: knowledge{unknownSince: t0}, now: t0.Add(fallback + time.Second), fallback: fallback, want: goalFallback},
		{name: "no leader key and no fallback holds forever", k: knowledge{unknownSince: t0}, now: t0.Add(time.Hour), fallback: 0, want: goalHold},
		{name: "etcd down since start holds", k: knowledge{etcdErr: etcdDown, unknownSince: t0}, now: t0.Add(time.Second), fallback: fallback, want: goalHold},
		{name: "clock stepped back holds", k: knowledge{unknownSince: t0}, now: t0.Add(-time.Hour), fallback: fallback, want: goalHold},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := decideGoal(tc.k, tc.now, tc.fallback)
			if g.kind != tc.want || g.leader != tc.leader || g.stale != tc.stale {
				t.Fatalf("decideGoal = %+v (%s); want %v leader %q stale %v", g, g, tc.want, tc.leader, tc.stale)
			}
		})
	}
}

func states(flags ...AdminFlags) []ServerState {
	out := make([]ServerState, len(flags))
	for i, f := range flags {
		out[i] = ServerState{Backend: "triad", ID: i + 1, Name: []string{"n1", "n2", "n3"}[i], Op: OpRunning, AdminFlags: f}
	}
	return out
}

func same(s string) string { return s }

// render writes steps as "n2:ready!" (Gate), "n1:maint+shutdown", "n3:shutdown".
func render(steps []step) string {
	var parts []string
	for _, s := range steps {
		p := s.Server + ":"
		switch {
		case s.To != "" && s.Shutdown:
			p += string(s.To) + "+shutdown"
		case s.To != "":
			p += string(s.To)
		default:
			p += "shutdown"
		}
		if s.Gate {
			p += "!"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	leader := func(n string) goal { return goal{kind: goalLeader, leader: n, epoch: 9} }
	const m, d, r = AdminForcedMaint, AdminForcedDrain, AdminFlags(0)
	for _, tc := range []struct {
		name     string
		g        goal
		servers  []ServerState
		sessions map[string]int
		serverOf func(string) string
		want     string
		problem  string
	}{
		{name: "fresh haproxy: leader stays ready, others into maint",
			g: leader("n2"), servers: states(r, r, r), want: "n1:maint+shutdown n3:maint+shutdown"},
		{name: "failover: new leader ready first, then the old into maint",
			g: leader("n2"), servers: states(r, m, m), want: "n2:ready! n1:maint+shutdown"},
		{name: "converged: nothing", g: leader("n2"), servers: states(m, r, m), want: ""},
		{name: "drained leader is made ready", g: leader("n1"), servers: states(d, m, m), want: "n1:ready!"},
		{name: "leader in maint and drain", g: leader("n1"), servers: states(m|d, m, m), want: "n1:ready!"},
		{name: "sessions left on a maint server are shut down",
			g: leader("n1"), servers: states(r, m, m), sessions: map[string]int{"n1": 40, "n2": 3}, want: "n2:shutdown"},
		{name: "drained follower goes into maint", g: leader("n1"), servers: states(r, d, m), want: "n2:maint+shutdown"},
		{name: "leader without a server changes nothing",
			g: leader("n4"), servers: states(r, m, m), want: "", problem: `leader n4 has no server "n4"`},
		{name: "mapped names", g: leader("alpha"), servers: states(m, r, m),
			serverOf: func(n string) string { return map[string]string{"alpha": "n3"}[n] },
			want:     "n3:ready! n2:maint+shutdown"},
		{name: "leader in maintenance HAProxy set itself is reported",
			g: leader("n1"), servers: states(AdminResolveMaint, r, m), want: "n2:maint+shutdown", problem: "cannot make it ready"},
		{name: "fallback: every server ready, no gate",
			g: goal{kind: goalFallback, unknownFor: time.Minute}, servers: states(m, r, d), want: "n1:ready n3:ready"},
		{name: "fallback leaves HAProxy's own maintenance alone",
			g: goal{kind: goalFallback}, servers: states(AdminInheritMaint, AdminConfigMaint, r), want: ""},
		{name: "hold: nothing", g: goal{kind: goalHold}, servers: states(m, m, m), want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serverOf := tc.serverOf
			if serverOf == nil {
				serverOf = same
			}
			steps, problem := plan(tc.g, tc.servers, tc.sessions, serverOf, same)
			if got := render(steps); got != tc.want {
				t.Errorf("plan = %q; want %q", got, tc.want)
			}
			if (tc.problem == "") != (problem == "") || !strings.Contains(problem, tc.problem) {
				t.Errorf("problem = %q; want one containing %q", problem, tc.problem)
			}
			for _, s := range steps {
				if s.Why == "" {
					t.Errorf("step %+v has no reason", s)
				}
			}
		})
	}
}
