package demo

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// printDynsecProxyGuide is the guide of a cluster.mode dynsec demo behind
// HAProxy: every node serves, HAProxy sticks each client to one.
func printDynsecProxyGuide(out io.Writer, l *Layout, s *Supervisor, p *Proxy, leader Node) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nTriad demo cluster %q in cluster.mode dynsec: 3 nodes on %s behind HAProxy, files in %s\n\n", l.Cluster, Host, l.Dir)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  process\tpid\tmqtt\thttp\tlog")
	for _, n := range l.Nodes {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", n.Name, s.PID(n.Name), n.MQTTAddr, n.HTTPAddr, n.LogPath)
	}
	fmt.Fprintf(tw, "  %s\t%d\t%s\t-\t%s\n", HAProxyProcess, p.HAProxyPID(), p.Addr(), l.Proxy.LogPath)
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(&b, "(table: %v)\n", err)
	}
	host, port := hostPort(p.Addr())
	fmt.Fprintf(&b, `
Every node serves MQTT. Clients use ONE address, HAProxy's: %[1]s; HAProxy
sends each client to a node and, by its client identifier, back to the same
node when it reconnects. Only dynamic security (clients, groups, roles) is
replicated, through the leader (%[2]s); sessions, queued messages and
retained messages stay on the node that has them: a client whose node dies
starts over on another one, without its session.

Try, in other terminals:
  mosquitto_sub -h %[3]s -p %[4]s -i demo-sub -c -q 1 -t t -v   (persistent; sticks to one node)
  mosquitto_pub -h %[3]s -p %[4]s -t t -m hello -q 1            (may land on another node: not delivered there)
  bin/triadctl --etcd %[5]s --cluster %[6]s status
  curl -s %[7]s/ready; curl -s %[7]s/status
%[8]s
A dynsec change made through any node is the cluster's: a client created
through one logs in through the others, a client disabled is kicked everywhere.
Bring a killed process back: kill -HUP %[9]d   (restarts every stopped node and HAProxy)
Stop: Ctrl-C here (SIGTERM to every process; data and logs stay in %[10]s)

`, p.Addr(), leader.Name, host, port, strings.Join(l.EtcdEndpoints(), ","), l.Cluster, "http://"+leader.HTTPAddr,
		dynsecGuide(l, host, port), os.Getpid(), l.Dir)
	fmt.Fprint(out, b.String())
}
