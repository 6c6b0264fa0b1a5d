// Package lbagent is triad-lbagent: a sidecar of one HAProxy that watches
// a Triad cluster's leader key in etcd and drives HAProxy through its
// Runtime API so that clients reach the leader, and only the leader. It
// knows only etcd and HAProxy, never the broker. docs/lbagent.md is the
// operator's guide; this note is the design.
//
// Files, one per boundary:
//
//	runtime.go          the Runtime API client: one command per connection,
//	                    timeouts, HAProxy's free-text errors as *CommandError
//	runtime_servers.go  show servers state / set server / shutdown sessions /
//	                    show stat, and their parsing
//	source.go           the leader key: a read, a watch, and a read every
//	                    reconcile_interval (the reads notice an etcd outage)
//	decide.go           pure decisions: knowledge → goal (the fail-safe
//	                    rule), goal + HAProxy's servers → ordered steps
//	agent.go            the main loop: one goroutine owns the knowledge and
//	                    every HAProxy command
//	config.go           the YAML config, decoded strictly by Triad's own
//	                    decoder (config.DecodeStrict)
//	fake.go             MemHAProxy, an in-memory Balancer for tests
//	haproxytest/        real haproxy processes for tests
//
// The rules:
//
//   - A known leader's server is made ready BEFORE any other server is put
//     into maint (and its sessions shut down, so clients reconnect at
//     once). If that ready fails, nothing else changes in that pass.
//   - A leader with no server in the backend changes nothing (a mapping
//     mistake must not take every server out).
//   - Etcd unreachable: the last leader seen stays the goal. No leader key:
//     nothing changes. Either for fallback_after (default 15s): every
//     server is set ready and HAProxy's health checks (GET /leader, which
//     answers 200 only on the node holding the lease) decide alone. The
//     agent never puts every server into maint.
//   - The agent reconciles at start and every reconcile_interval from
//     `show servers state`, so a restarted or reloaded HAProxy, or a
//     restarted agent, converges without help. It changes nothing on exit.
//   - Nothing is global: each agent reads etcd and writes only its own
//     HAProxy, so any number of HAProxy+agent pairs run side by side.
package lbagent
