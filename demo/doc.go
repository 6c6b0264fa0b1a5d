// Package demo runs a three-node Triad cluster on one machine: the
// `triad demo` command, and a harness that end-to-end tests can reuse.
//
// Plan lays the cluster out in a directory and writes a triad.yaml per
// node (checked with config.Parse); Run supervises it; Start, WaitLeader
// and ProbeAll are the parts Run is made of, for tests that want to kill
// and restart nodes themselves:
//
//	l, err := demo.Plan(dir, base, "demo")  // base: demo.FreeBasePort() in tests
//	s, err := demo.Start(l, triadBin, log)  // writes dir/demo.json
//	defer s.Stop(10 * time.Second)
//	leader, err := demo.WaitLeader(ctx, l, s)
//	s.Signal(leader.Node.Name, syscall.SIGKILL)
//	s.RestartStopped()
//
// # Layout
//
// Nodes n1, n2, n3 (index i = 0, 1, 2) listen on 127.0.0.1, ports from a
// base: base+10*i MQTT, +1 HTTP, +2 etcd client, +3 etcd peer. Each runs an
// embedded etcd member with short timings (tick 50ms, election timeout
// 500ms, lease TTL 2s, fence margin 500ms) so that a failover takes about two
// seconds. DIR/nN holds triad.yaml, triad.log (the child's stdout and
// stderr, appended to) and data/ (the node's state; etcd's under data/etcd).
// DIR/demo.json (Manifest) lists the nodes and their pids.
//
// # Restarts
//
// Running the demo again on the same directory reuses the data: etcd
// restarts a member from its WAL and ignores initial_cluster_state, so the
// configs always say "new" (checked with etcd 3.7: a member restarted
// alone, or all three together, rejoin with their data). Etcd keeps its
// members' peer URLs in that data, so Plan refuses a directory used with
// another base port.
//
// # Processes
//
// Every child runs in its own process group, so a Ctrl-C in the terminal
// reaches only the demo, which then stops the children with SIGTERM and
// SIGKILL after a grace period; on Linux a child also gets SIGTERM should
// the demo die first. A child that exits on its own is logged and left
// down; the others keep running, and Supervisor.RestartStopped (SIGHUP to
// `triad demo`) starts it again and rewrites demo.json.
//
// # Leader
//
// The leader is the node whose GET /leader answers 200. A triad without
// that endpoint answers with net/http's own 404 page; the demo then waits
// for every node's GET /health to answer 200 and reports the leader as
// unknown.
package demo
