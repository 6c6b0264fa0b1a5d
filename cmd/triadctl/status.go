package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/triadmq/triad/election"
)

// statusJSON is the contract of "status --json".
type statusJSON struct {
	Cluster     string            `json:"cluster"`
	Mode        string            `json:"mode"` // cluster.mode as the nodes report it: full or dynsec; "" when no node reports one
	Revision    int64             `json:"revision"`
	Leader      *string           `json:"leader"`
	Epoch       int64             `json:"epoch"`
	LeaderSince *time.Time        `json:"leader_since"`
	Pin         *string           `json:"pin"`
	PinHonoured bool              `json:"pin_honoured"`
	Paused      bool              `json:"paused"`
	Switchover  *election.Request `json:"switchover"`
	InSyncSet   *election.InSync  `json:"in_sync_set"` // null: none written
	Nodes       []nodeJSON        `json:"nodes"`
	Problems    []string          `json:"problems,omitempty"`
}

type nodeJSON struct {
	Name       string        `json:"name"`
	Mode       string        `json:"mode"`
	Role       election.Role `json:"role"`
	Leader     bool          `json:"leader"` // the leader key names it
	Healthy    bool          `json:"healthy"`
	InSync     bool          `json:"in_sync"` // by the in-sync set when there is one (election.NodeView.InSyncSet)
	Epoch      int64         `json:"epoch"`
	Applied    uint64        `json:"applied"`
	Lag        *int64        `json:"lag"`         // null: nobody leads
	LagSeconds *float64      `json:"lag_seconds"` // null: the leader reports nothing on it
	Connected  *bool         `json:"connected"`   // its replication stream; null: the leader, or unknown
	MQTT       []string      `json:"mqtt"`
	HTTP       string        `json:"http"`
	Version    string        `json:"version"`
	PID        int           `json:"pid"`
	Updated    time.Time     `json:"updated"`
}

func toJSON(cluster string, v *election.View) statusJSON {
	out := statusJSON{
		Cluster: cluster, Mode: clusterMode(v), Revision: v.Revision, Leader: v.Leader, Epoch: v.Epoch,
		Pin: v.Pin, PinHonoured: v.PinHonoured, Paused: v.Paused, Switchover: v.Switchover, InSyncSet: v.InSync,
		Nodes: make([]nodeJSON, 0, len(v.Nodes)), Problems: v.Problems,
	}
	if v.LeaderRecord != nil && !v.LeaderRecord.Since.IsZero() {
		out.LeaderSince = &v.LeaderRecord.Since
	}
	for _, n := range v.Nodes {
		mqtt := n.MQTT
		if mqtt == nil {
			mqtt = []string{}
		}
		out.Nodes = append(out.Nodes, nodeJSON{
			Name: n.Name, Mode: n.Mode, Role: n.Role, Leader: n.IsLeader, Healthy: n.Healthy, InSync: n.InSyncSet,
			Epoch: n.Epoch, Applied: n.Applied, Lag: n.Lag, LagSeconds: n.LagSeconds, Connected: n.Connected,
			MQTT: mqtt, HTTP: n.HTTP,
			Version: n.Version, PID: n.PID, Updated: n.Updated,
		})
	}
	return out
}

func (a *app) status(ctx context.Context, cl *cmdLine) error {
	if err := cl.noArgs(); err != nil {
		return err
	}
	s, err := a.open(cl)
	if err != nil {
		return err
	}
	defer s.close()
	asJSON := cl.bool("json")
	if cl.bool("watch") {
		return a.watchStatus(ctx, s, asJSON)
	}
	tctx, cancel := s.withTimeout(ctx)
	defer cancel()
	v, err := s.view(tctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(toJSON(s.cluster, v))
	}
	writeStatus(a.stdout, s.cluster, v)
	return nil
}

// watchStatus prints the view, then again after every change, until ctx
// is cancelled (SIGINT/SIGTERM: exit 0). --json prints one JSON object per
// line. The first read must succeed within --timeout; later etcd errors
// are reported and the watch starts again.
func (a *app) watchStatus(ctx context.Context, s *session, asJSON bool) error {
	tctx, cancel := s.withTimeout(ctx)
	_, err := s.view(tctx) // fail fast when etcd is unreachable
	cancel()
	if err != nil {
		return err
	}
	printed := 0
	show := func(v *election.View) {
		switch {
		case asJSON:
			if err := json.NewEncoder(a.stdout).Encode(toJSON(s.cluster, v)); err != nil {
				fmt.Fprintf(a.stderr, "triadctl: %v\n", err)
			}
		default:
			if printed > 0 {
				fmt.Fprintf(a.stdout, "\n--- %s\n", time.Now().Format(time.RFC3339))
			}
			writeStatus(a.stdout, s.cluster, v)
		}
		printed++
	}
	for {
		err := election.WatchView(ctx, s.c, s.keys, show)
		if ctx.Err() != nil {
			return nil
		}
		fmt.Fprintf(a.stderr, "triadctl: watch: %v; starting again\n", s.fail(ctx, err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// clusterMode is the cluster.mode the live nodes report: the one they
// agree on, "mixed" when they differ, "" when none reports one (no node
// live, or nodes older than the modes: full).
func clusterMode(v *election.View) string {
	mode := ""
	for _, n := range v.Nodes {
		m := n.Mode
		if m == "" {
			m = "full"
		}
		switch {
		case mode == "":
			mode = m
		case mode != m:
			return "mixed"
		}
	}
	return mode
}

// modeText explains a cluster mode in the status summary.
func modeText(mode string) string {
	switch mode {
	case "full":
		return "full: the leader alone serves MQTT; sessions, messages and dynamic security are replicated"
	case "dynsec":
		return "dynsec: EVERY node serves its own clients. Sessions, subscriptions, queued and retained messages are LOCAL to each node, not replicated; only dynamic security is, through the leader"
	case "mixed":
		return "MIXED: the nodes report different cluster.mode values; give every node the same one"
	}
	return "unknown (no live node reports one)"
}

// writeStatus prints v as a summary and a table of nodes.
func writeStatus(w io.Writer, cluster string, v *election.View) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster\t%s\n", cluster)
	fmt.Fprintf(tw, "mode\t%s\n", modeText(clusterMode(v)))
	leader := "none: no node leads"
	if v.Leader != nil {
		leader = fmt.Sprintf("%s (epoch %d", *v.Leader, v.Epoch)
		if r := v.LeaderRecord; !r.Since.IsZero() {
			leader += fmt.Sprintf(", since %s", r.Since.Format(time.RFC3339))
		}
		if r := v.LeaderRecord; r.Reason != "" {
			leader += ", by " + r.Reason
		}
		leader += ")"
	}
	fmt.Fprintf(tw, "leader\t%s\n", leader)
	fmt.Fprintf(tw, "epoch\t%d\n", v.Epoch)
	fmt.Fprintf(tw, "pin\t%s\n", pinText(v))
	paused := "no"
	if v.Paused {
		paused = "YES: no automatic leader change (triadctl resume ends it)"
		if p := v.Pause; p != nil && !p.At.IsZero() {
			paused = fmt.Sprintf("YES since %s by %s: no automatic leader change (triadctl resume ends it)", p.At.Format(time.RFC3339), p.By)
		}
	}
	fmt.Fprintf(tw, "paused\t%s\n", paused)
	fmt.Fprintf(tw, "in sync\t%s\n", inSyncText(v))
	if r := v.Switchover; r != nil {
		fmt.Fprintf(tw, "request\t%s\n", requestText(r))
	}
	for _, p := range v.Problems {
		fmt.Fprintf(tw, "problem\t%s\n", p)
	}
	if err := tw.Flush(); err != nil {
		return // the writer is broken: nothing more can be shown
	}
	fmt.Fprintln(w)
	if len(v.Nodes) == 0 {
		fmt.Fprintln(w, "no live nodes (no node has published its status)")
		return
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tHEALTHY\tIN_SYNC\tSTREAM\tEPOCH\tAPPLIED\tLAG\tLAG(s)\tMQTT\tHTTP\tVERSION")
	for _, n := range v.Nodes {
		lag, lagSeconds := "-", "-"
		if n.Lag != nil {
			lag = strconv.FormatInt(*n.Lag, 10)
		}
		if n.LagSeconds != nil {
			lagSeconds = strconv.FormatFloat(*n.LagSeconds, 'f', 1, 64)
		}
		name := n.Name
		if n.IsLeader {
			name += "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", name, orDash(string(n.Role)),
			yesNo(n.Healthy), yesNo(n.InSyncSet), streamText(n.Connected), n.Epoch, n.Applied, lag, lagSeconds,
			orDash(strings.Join(n.MQTT, ",")), orDash(n.HTTP), orDash(n.Version))
	}
	if err := tw.Flush(); err != nil {
		return
	}
	if v.Leader != nil {
		fmt.Fprintln(w, "(* holds the leader key)")
	}
}

// inSyncText describes the in-sync set: the followers a client
// acknowledgement waits for, and the only ones that may be elected.
func inSyncText(v *election.View) string {
	is := v.InSync
	if is == nil {
		return "no set in etcd (no replication, or no follower has caught up yet): IN_SYNC is each node's own claim"
	}
	members := make([]string, 0, len(is.Members))
	for _, m := range is.Members {
		if _, live := v.Node(m); !live {
			m += " (no live status)"
		}
		members = append(members, m)
	}
	set := strings.Join(members, ", ")
	if len(members) == 0 {
		set = "NONE: only the leader holds every acknowledged entry"
	}
	return fmt.Sprintf("%s; written by %s in epoch %d", set, orDash(is.Leader), is.Epoch)
}

// streamText is a follower's replication stream as the leader reports it.
func streamText(connected *bool) string {
	switch {
	case connected == nil:
		return "-"
	case *connected:
		return "connected"
	default:
		return "DISCONNECTED"
	}
}

func pinText(v *election.View) string {
	switch {
	case v.Pin == nil:
		return "none"
	case v.PinHonoured:
		return *v.Pin + " (honoured)"
	case v.Leader == nil:
		return *v.Pin + " (NOT honoured: no node leads)"
	default:
		return fmt.Sprintf("%s (NOT honoured: %s leads)", *v.Pin, *v.Leader)
	}
}

func requestText(r *election.Request) string {
	return fmt.Sprintf("%s %s -> %s pending since %s", r.Kind, orNone(r.From), orAny(r.To), r.At.Format(time.RFC3339))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
