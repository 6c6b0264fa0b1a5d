package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Options tune Run.
type Options struct {
	Binary        string          // the triad binary the nodes run; required
	Stdout        io.Writer       // the guide, then every change of leader; nil discards
	Log           *slog.Logger    // node starts, exits and restarts; nil discards
	Restart       <-chan struct{} // each receive restarts the nodes that have exited (triad demo: SIGHUP)
	LeaderTimeout time.Duration   // how long to wait for the first leader; default 30s
	StopGrace     time.Duration   // from SIGTERM to SIGKILL when stopping; default 10s
}

// Defaults of Options.
const (
	DefaultLeaderTimeout = 30 * time.Second
	DefaultStopGrace     = 10 * time.Second
)

// watchInterval is how often Run looks for a change of leader.
const watchInterval = 250 * time.Millisecond

// Run runs the demo cluster of l (see Plan) until ctx ends. It checks that
// every port is free, starts the nodes (Start, which writes demo.json),
// waits for a leader (WaitLeader), prints what to try next, then prints
// every change of leader and restarts the exited nodes on each receive
// from o.Restart. A node that exits is logged; the others keep running.
//
// When ctx ends, Run stops the nodes (Supervisor.Stop with o.StopGrace),
// removes nothing and returns nil. It returns an error, after stopping the
// nodes it started, if a port is busy, a node cannot start or exits before
// there is a leader, or there is no leader within o.LeaderTimeout.
func Run(ctx context.Context, l *Layout, o Options) (err error) {
	if o.Binary == "" {
		return errors.New("demo: no triad binary given")
	}
	out := o.Stdout
	if out == nil {
		out = io.Discard
	}
	if o.LeaderTimeout <= 0 {
		o.LeaderTimeout = DefaultLeaderTimeout
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := l.CheckPorts(); err != nil {
		return err
	}
	s, err := Start(l, o.Binary, o.Log)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintf(out, "Stopping the nodes (SIGTERM, SIGKILL after %v); their files stay in %s\n", o.StopGrace, l.Dir)
		err = errors.Join(err, s.Stop(o.StopGrace))
	}()
	fmt.Fprintf(out, "Started %s; waiting up to %v for a leader ...\n", l.ManifestPath(), o.LeaderTimeout)
	wctx, cancel := context.WithTimeout(ctx, o.LeaderTimeout)
	leader, err := WaitLeader(wctx, l, s)
	cancel()
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return fmt.Errorf("%w\nthe node logs are %s/n*/triad.log", err, l.Dir)
	}
	printGuide(out, l, s, leader)
	watch(ctx, l, s, o, out, leader)
	return nil
}

// watch prints each change of leader and restarts exited nodes on
// o.Restart, until ctx ends.
func watch(ctx context.Context, l *Layout, s *Supervisor, o Options, out io.Writer, leader Leader) {
	var tick <-chan time.Time
	if !leader.Unknown { // without /leader there is nothing to watch
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		tick = t.C
	}
	current := leader.Node.Name
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Restart:
			names, err := s.RestartStopped()
			if err != nil {
				o.Log.Error("restart", "error", err)
			}
			if len(names) == 0 && err == nil {
				fmt.Fprintf(out, "%s every node is running; nothing to restart\n", stamp())
			}
			for _, name := range names {
				fmt.Fprintf(out, "%s restarted %s: pid %d\n", stamp(), name, s.PID(name))
			}
		case <-tick:
			now := strings.Join(Leaders(ProbeAll(ctx, l)), ", ")
			if now == current || ctx.Err() != nil {
				continue
			}
			current = now
			printLeader(out, l, now)
		}
	}
}

func printLeader(out io.Writer, l *Layout, names string) {
	switch n, ok := l.Node(names); {
	case names == "":
		fmt.Fprintf(out, "%s leader: none\n", stamp())
	case ok:
		fmt.Fprintf(out, "%s leader: %s (mqtt %s)\n", stamp(), n.Name, n.MQTTAddr)
	default:
		fmt.Fprintf(out, "%s leaders: %s: more than one node answers GET /leader with 200!\n", stamp(), names)
	}
}

func stamp() string { return time.Now().Format("15:04:05.000") }

// printGuide prints the nodes and what to try next.
func printGuide(out io.Writer, l *Layout, s *Supervisor, leader Leader) {
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
	host, port, err := net.SplitHostPort(target.MQTTAddr)
	if err != nil { // NewLayout made it with net.JoinHostPort
		host, port = target.MQTTAddr, "?"
	}
	fmt.Fprintf(&b, `
Try, in another terminal:
  mosquitto_sub -h %[1]s -p %[2]s -i demo-reader -c -q 1 -t 'demo/#' -v
  mosquitto_pub -h %[1]s -p %[2]s -q 1 -t demo/hello -m 'hello, triad'
  bin/triadctl --etcd %[3]s --cluster %[4]s status
  curl -s %[5]s/status
`, host, port, strings.Join(l.EtcdEndpoints(), ","), l.Cluster, target.HTTPAddr)
	if leader.Unknown {
		fmt.Fprintf(&b, "\nKill a node: kill -9 %d   (%s; without leadership nothing fails over)\n",
			s.PID(target.Name), target.Name)
	} else {
		fmt.Fprintf(&b, "\nFail over: kill -9 %d   (the leader, %s); this terminal prints the new leader.\n"+
			"  There is no load balancer in front: point your clients at the new leader.\n",
			s.PID(target.Name), target.Name)
	}
	fmt.Fprintf(&b, "Bring a killed node back: kill -HUP %d   (restarts every stopped node)\n"+
		"Stop: Ctrl-C here (SIGTERM to the nodes; data and logs stay in %s)\n\n", os.Getpid(), l.Dir)
	fmt.Fprint(out, b.String())
}

// tail returns the last n lines of the file at path, indented, or why not.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	const maxBytes = 8 << 10
	if len(data) > maxBytes {
		data = data[len(data)-maxBytes:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
