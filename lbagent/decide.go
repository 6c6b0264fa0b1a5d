package lbagent

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// knowledge is what the agent knows of the cluster's leadership from etcd
// (main loop only).
type knowledge struct {
	leader string // the leading node; "": none known
	epoch  int64  // the leader key's create revision
	// etcdErr is the error of the last etcd read or watch; nil once etcd
	// answers again.
	etcdErr error
	// unknownSince is when the agent last knew a leader: the first failed
	// etcd read, or the read that found no leader key. Zero while a leader
	// is known and etcd answers.
	unknownSince time.Time
}

// goalKind says what the agent wants of HAProxy.
type goalKind int

const (
	// goalHold: change nothing. No leader is known (no leader key, or etcd
	// unreachable before any leader was seen) and not for long enough to
	// fall back.
	goalHold goalKind = iota
	// goalLeader: the leader's server ready, every other server in maint
	// without sessions.
	goalLeader
	// goalFallback: every server ready; HAProxy's health checks (GET
	// /leader, 200 only on the node that holds the lease) alone decide.
	goalFallback
)

func (k goalKind) String() string {
	switch k {
	case goalHold:
		return "hold"
	case goalLeader:
		return "leader"
	case goalFallback:
		return "fallback"
	}
	return fmt.Sprintf("goal-%d", int(k))
}

// goal is what the agent drives HAProxy towards.
type goal struct {
	kind       goalKind
	leader     string // goalLeader: the node whose server is ready
	epoch      int64
	stale      bool          // goalLeader: etcd is unreachable; this is the last leader seen
	unknownFor time.Duration // goalHold, goalFallback: how long no leader has been known
}

// decideGoal is the fail-safe rule (docs/lbagent.md, "Fail-safe rules"):
//
//   - a leader is known and etcd answers: follow it;
//   - etcd does not answer: keep following the last leader seen, if any, so
//     a short outage changes nothing;
//   - no leader key (the election gap after a leader dies, a cluster that
//     is down) or no leader ever seen: hold, change nothing;
//   - either of the last two for fallbackAfter or longer (0: never): set
//     every server ready and let the health checks decide.
func decideGoal(k knowledge, now time.Time, fallbackAfter time.Duration) goal {
	if k.unknownSince.IsZero() && k.leader != "" {
		return goal{kind: goalLeader, leader: k.leader, epoch: k.epoch}
	}
	unknown := max(now.Sub(k.unknownSince), 0)
	switch {
	case fallbackAfter > 0 && unknown >= fallbackAfter:
		return goal{kind: goalFallback, unknownFor: unknown}
	case k.etcdErr != nil && k.leader != "":
		return goal{kind: goalLeader, leader: k.leader, epoch: k.epoch, stale: true}
	}
	return goal{kind: goalHold, unknownFor: unknown}
}

func (g goal) String() string {
	switch g.kind {
	case goalLeader:
		s := fmt.Sprintf("%s leads (epoch %d)", g.leader, g.epoch)
		if g.stale {
			s += ", last seen before etcd stopped answering"
		}
		return s
	case goalFallback:
		return fmt.Sprintf("no leader known for %v: HAProxy's health checks decide", g.unknownFor.Round(time.Millisecond))
	}
	return fmt.Sprintf("no leader known for %v: HAProxy left as it is", g.unknownFor.Round(time.Millisecond))
}

// step is one change to one server.
type step struct {
	Server string
	Node   string      // the node the server belongs to; "" if none
	From   ServerState // as HAProxy reported it
	// To is the admin state to set: ready or maint; "" only closes the
	// server's sessions.
	To Admin
	// Shutdown closes the server's client sessions (after To is set).
	Shutdown bool
	// Gate: the steps after this one must not run if it fails (the
	// leader's server is made ready before any other goes into maint).
	Gate bool
	Why  string
}

// needsReady reports whether server s carries a maint or drain flag that
// `set server ... state ready` clears (the flags HAProxy sets itself,
// resolution failures and tracked servers, it does not).
func needsReady(s ServerState) bool { return s.AdminFlags&(AdminForcedMaint|AdminForcedDrain) != 0 }

// plan returns the steps that take servers (HAProxy's view of the backend)
// to g, in the order they must run, and a problem worth an operator's
// attention ("" if none). sessions holds each server's current sessions
// (nil: unknown). serverOf and nodeOf map between node and server names.
//
// For goalLeader the leader's server is made ready first (Gate), then each
// other server is put into maint and its sessions shut down, so a leader
// that is known is never left without a ready server by the agent. If the
// leader has no server in the backend nothing is changed at all.
func plan(g goal, servers []ServerState, sessions map[string]int, serverOf, nodeOf func(string) string) ([]step, string) {
	switch g.kind {
	case goalLeader:
		return planLeader(g, servers, sessions, serverOf, nodeOf)
	case goalFallback:
		var steps []step
		for _, s := range servers {
			if needsReady(s) {
				steps = append(steps, step{Server: s.Name, Node: nodeOf(s.Name), From: s, To: AdminReady, Why: g.String()})
			}
		}
		return steps, ""
	}
	return nil, ""
}

func planLeader(g goal, servers []ServerState, sessions map[string]int, serverOf, nodeOf func(string) string) ([]step, string) {
	want := serverOf(g.leader)
	i := slices.IndexFunc(servers, func(s ServerState) bool { return s.Name == want })
	if i < 0 {
		names := make([]string, len(servers))
		for j, s := range servers {
			names[j] = s.Name
		}
		return nil, fmt.Sprintf("leader %s has no server %q in the backend (its servers: %s): nothing changed; map the node under servers:",
			g.leader, want, strings.Join(names, ", "))
	}
	var steps []step
	var problem string
	ls := servers[i]
	if needsReady(ls) {
		steps = append(steps, step{Server: ls.Name, Node: g.leader, From: ls, To: AdminReady, Gate: true, Why: g.String()})
	}
	if ls.AdminFlags&(AdminInheritMaint|AdminResolveMaint) != 0 {
		problem = fmt.Sprintf("leader %s's server %s is in maintenance HAProxy set itself (admin flags %#x: a tracked server, or its address does not resolve); the agent cannot make it ready",
			g.leader, ls.Name, uint32(ls.AdminFlags))
	}
	for _, s := range servers {
		if s.Name == want {
			continue
		}
		why := fmt.Sprintf("%s, not %s", g, orName(nodeOf(s.Name), s.Name))
		switch {
		case s.AdminFlags&AdminForcedMaint == 0:
			steps = append(steps, step{Server: s.Name, Node: nodeOf(s.Name), From: s, To: AdminMaint, Shutdown: true, Why: why})
		case sessions[s.Name] > 0:
			steps = append(steps, step{Server: s.Name, Node: nodeOf(s.Name), From: s, Shutdown: true,
				Why: fmt.Sprintf("%s; %d sessions left on it", why, sessions[s.Name])})
		}
	}
	return steps, problem
}

func orName(node, server string) string {
	if node == "" {
		return "server " + server
	}
	return node
}
