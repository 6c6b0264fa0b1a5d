package demo

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// printLeader prints a change of leader; names are those answering
// GET /leader with 200, joined. p is nil without HAProxy.
func printLeader(out io.Writer, l *Layout, s *Supervisor, p *Proxy, names string) {
	switch n, ok := l.Node(names); {
	case names == "":
		fmt.Fprintf(out, "%s leader: none\n", stamp())
	case ok && l.Dynsec():
		fmt.Fprintf(out, "%s leader: %s (mqtt %s, pid %d); it orders the dynamic-security changes, every node serves\n",
			stamp(), n.Name, n.MQTTAddr, s.PID(n.Name))
	case ok && p != nil:
		fmt.Fprintf(out, "%s leader: %s (mqtt %s, pid %d); clients reach it through HAProxy at %s\n",
			stamp(), n.Name, n.MQTTAddr, s.PID(n.Name), p.Addr())
	case ok:
		fmt.Fprintf(out, "%s leader: %s (mqtt %s)\n", stamp(), n.Name, n.MQTTAddr)
	default:
		fmt.Fprintf(out, "%s leaders: %s: more than one node answers GET /leader with 200!\n", stamp(), names)
	}
}

func stamp() string { return time.Now().Format("15:04:05.000") }

// hostPort splits an address NewLayout made with net.JoinHostPort.
func hostPort(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, "?"
	}
	return host, port
}

// printGuide prints the processes and what to try next. p is nil without
// HAProxy.
func printGuide(out io.Writer, l *Layout, s *Supervisor, p *Proxy, leader Leader) {
	switch {
	case p != nil && l.Dynsec():
		printDynsecProxyGuide(out, l, s, p, leader.Node)
		return
	case p != nil:
		printProxyGuide(out, l, s, p, leader.Node)
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nTriad demo cluster %q: 3 nodes on %s, files in %s\n\n", l.Cluster, Host, l.Dir)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  node\tpid\tmqtt\thttp\tlog")
	for _, n := range l.Nodes {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", n.Name, s.PID(n.Name), n.MQTTAddr, n.HTTPAddr, n.LogPath)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(&b, "(table: %v)\n", err)
	}
	target := leader.Node
	if leader.Unknown {
		target = l.Nodes[0]
		fmt.Fprintf(&b, "\nLeader: unknown. This triad has no GET /leader yet (leadership is not built in),\n"+
			"so every node serves MQTT on its own; the commands below use %s.\n", target.Name)
	} else {
		fmt.Fprintf(&b, "\nLeader: %s, MQTT at %s (only the leader serves MQTT).\n", target.Name, target.MQTTAddr)
	}
	host, port := hostPort(target.MQTTAddr)
	fmt.Fprintf(&b, `
Try, in another terminal:
  mosquitto_sub -h %[1]s -p %[2]s -i demo-reader -c -q 1 -t 'demo/#' -v
  mosquitto_pub -h %[1]s -p %[2]s -q 1 -t demo/hello -m 'hello, triad'
  bin/triadctl --etcd %[3]s --cluster %[4]s status
  curl -s %[5]s/status
`, host, port, strings.Join(l.EtcdEndpoints(), ","), l.Cluster, target.HTTPAddr)
	b.WriteString(dynsecGuide(l, host, port))
	if leader.Unknown {
		fmt.Fprintf(&b, "\nKill a node: kill -9 %d   (%s; without leadership nothing fails over)\n",
			s.PID(target.Name), target.Name)
	} else {
		fmt.Fprintf(&b, "\nFail over: kill -9 %d   (the leader, %s); this terminal prints the new leader.\n"+
			"  There is no load balancer in front (--no-haproxy): point your clients at the new leader.\n",
			s.PID(target.Name), target.Name)
	}
	fmt.Fprintf(&b, "Bring a killed node back: kill -HUP %d   (restarts every stopped node)\n"+
		"Stop: Ctrl-C here (SIGTERM to the nodes; data and logs stay in %s)\n\n", os.Getpid(), l.Dir)
	fmt.Fprint(out, b.String())
}

// printProxyGuide is the guide with HAProxy in front: one address for
// every client.
func printProxyGuide(out io.Writer, l *Layout, s *Supervisor, p *Proxy, leader Node) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nTriad demo cluster %q: 3 nodes on %s behind HAProxy, files in %s\n\n", l.Cluster, Host, l.Dir)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  process\tpid\tmqtt\thttp\tlog")
	for _, n := range l.Nodes {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", n.Name, s.PID(n.Name), n.MQTTAddr, n.HTTPAddr, n.LogPath)
	}
	fmt.Fprintf(tw, "  %s\t%d\t%s\t-\t%s\n", HAProxyProcess, p.HAProxyPID(), p.Addr(), l.Proxy.LogPath)
	fmt.Fprintf(tw, "  %s\t%d\t-\t-\t%s\n", AgentProcess, p.AgentPID(), l.Proxy.AgentLogPath)
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(&b, "(table: %v)\n", err)
	}
	host, port := hostPort(p.Addr())
	fmt.Fprintf(&b, `
Leader: %[1]s, pid %[2]d. Clients use ONE address, HAProxy's: %[3]s;
HAProxy sends them to the leader, whichever node that is.

Try, in other terminals:
  mosquitto_sub -h %[4]s -p %[5]s -i demo-sub -c -q 1 -t t -v   (persistent; reconnects by itself)
  mosquitto_pub -h %[4]s -p %[5]s -t t -m hello -q 1
  bin/triadctl --etcd %[6]s --cluster %[7]s status --watch
%[10]s
Fail over: kill -9 %[2]d   (the leader, %[1]s)
  About two seconds later another node leads (this terminal and triadctl say which),
  HAProxy sends clients there, and the same mosquitto_pub works again.
Bring a killed process back: kill -HUP %[8]d   (restarts every stopped node, HAProxy and agent)
Stop: Ctrl-C here (SIGTERM to every process; data and logs stay in %[9]s)

`, leader.Name, s.PID(leader.Name), p.Addr(), host, port, strings.Join(l.EtcdEndpoints(), ","), l.Cluster, os.Getpid(), l.Dir,
		dynsecGuide(l, host, port))
	fmt.Fprint(out, b.String())
}

// dynsecGuide tells how to administer the demo's dynamic security.
func dynsecGuide(l *Layout, host, port string) string {
	return fmt.Sprintf(`
Dynamic security is on: anonymous clients may use every topic but $CONTROL;
the admin user is %[1]q, password %[2]s (also in demo.json and %[3]s):
  mosquitto_ctrl -h %[4]s -p %[5]s -u %[1]s -P %[2]s dynsec listClients
  mosquitto_ctrl -h %[4]s -p %[5]s -u %[1]s -P %[2]s dynsec createClient alice -p secret
`, AdminUser, l.AdminPassword, filepath.Join(l.Dir, adminPasswordFile), host, port)
}
