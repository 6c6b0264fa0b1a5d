// Package demo runs a three-node Triad cluster on one machine, behind
// HAProxy and triad-lbagent: the `triad demo` command, and a harness that
// end-to-end tests can reuse.
//
// Plan lays the cluster out in a directory and writes a triad.yaml per
// node (checked with config.Parse); Run supervises it; Start, WaitLeader,
// ProbeAll, StartProxy and WaitProxy are the parts Run is made of, for
// tests that want to kill and restart processes themselves:
//
//	l, err := demo.Plan(dir, base, "demo")  // base: demo.FreeBasePort() in tests
//	s, err := demo.Start(l, triadBin, log)  // writes dir/demo.json; no HAProxy
//	defer s.Stop(10 * time.Second)
//	leader, err := demo.WaitLeader(ctx, l, s)
//	p, err := demo.StartProxy(l, lbagentBin, haproxyBin, log) // optional
//	defer p.Stop(10 * time.Second)
//	node, err := demo.WaitProxy(ctx, p)     // clients reach node through p.Addr()
//	s.Signal(leader.Node.Name, syscall.SIGKILL)
//	s.RestartStopped()
//
// # Layout
//
// Nodes n1, n2, n3 (index i = 0, 1, 2) listen on 127.0.0.1, ports from a
// base: base+10*i MQTT, +1 HTTP, +2 etcd client, +3 etcd peer, +4
// replication; HAProxy's MQTT frontend, the one address clients use, is
// base+30. Each runs an
// embedded etcd member with short timings (tick 50ms, election timeout
// 500ms, lease TTL 2s, fence margin 500ms) so that a failover takes about two
// seconds. DIR/nN holds triad.yaml, triad.log (the child's stdout and
// stderr, appended to) and data/ (the node's state; etcd's under data/etcd).
// DIR/demo.json (Manifest) lists the nodes and their pids, and HAProxy's
// address, socket and pid and the agent's pid once they run.
//
// # HAProxy and the agent
//
// WriteProxyFiles writes DIR/haproxy/haproxy.cfg (a tcp frontend, the
// backend triad with one server per node checked with GET /leader on its
// HTTP port, the stats socket DIR/haproxy/admin.sock at level admin, a
// server-state-file, no daemon/user/chroot) and DIR/lbagent.yaml (the
// cluster, its etcd members, that socket, nN → server nN). StartProxy runs
// `haproxy -f DIR/haproxy/haproxy.cfg -db` (output in
// DIR/haproxy/haproxy.log) and `triad-lbagent run --config DIR/lbagent.yaml`
// (output in DIR/lbagent.log). The agent keeps the leader's server ready
// and the others in maint; the health checks alone would route clients
// too, a second or so later. Run looks for haproxy in PATH, then
// /usr/sbin/haproxy, and for triad-lbagent beside the triad binary, then in
// PATH, and fails saying what to install or build; with NoHAProxy
// (`--no-haproxy`) it runs the nodes alone as before.
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
// Every child (node, haproxy, triad-lbagent) runs in its own process
// group, so a Ctrl-C in the terminal reaches only the demo, which then
// stops HAProxy and the agent, then the nodes, with SIGTERM and SIGKILL
// after a grace period; on Linux a child also gets SIGTERM should the demo
// die first. A child that exits on its own is logged and left down; the
// others keep running, and Supervisor.RestartStopped and
// Proxy.RestartStopped (SIGHUP to `triad demo`) start it again and rewrite
// demo.json.
//
// # Leader
//
// The leader is the node whose GET /leader answers 200. A triad without
// that endpoint answers with net/http's own 404 page; the demo then waits
// for every node's GET /health to answer 200 and reports the leader as
// unknown.
package demo
