package main

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"
)

// writeReport prints the header, the table (a row per figure: the
// cluster, then the baseline), the errors by kind and the nodes'
// warnings after the kill.
func writeReport(w io.Writer, res *result, cfg options) error {
	var b strings.Builder
	resub := "resubscribing (back = SUBACK)"
	if !res.Resubscribe {
		resub = "not resubscribing (back = CONNACK)"
	}
	revoke := "lease revoked after the kill"
	if !res.Revoke {
		revoke = "lease left to expire"
	}
	fmt.Fprintf(&b, "\nTriad scale: %d persistent sessions x %d QoS 1 subscriptions through HAProxy, kill -9 of the leader (%s), clients %s;\n"+
		"reconnect at once, then backoff %v..%v; %d source addresses; %d cores; file limit %d; load average %s (start), %s (kill), %s (end); %v in all\n",
		res.Conns, res.Subs, revoke, resub, cfg.fleet.retryMin, cfg.fleet.retryMax, res.Sources, runtime.NumCPU(), res.FileLimit,
		res.Load.Start, res.Load.Kill, res.Load.End, res.Elapsed)
	if res.Lowered > 0 {
		fmt.Fprintf(&b, "!!!! -conns %d LOWERED to %d by -fit: the open file limit %d could not be raised (HAProxy needs 2 per client)\n",
			res.Lowered, res.Conns, res.FileLimit)
	}
	rows := tableRows(res)
	widths := [3]int{}
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for i, r := range rows {
		fmt.Fprintf(&b, "%-*s | %-*s | %s\n", widths[0], r[0], widths[1], r[1], r[2])
		if i == 0 {
			fmt.Fprintf(&b, "%s-+-%s-+-%s\n", strings.Repeat("-", widths[0]), strings.Repeat("-", widths[1]), strings.Repeat("-", widths[2]))
		}
	}
	writeErrors(&b, "connect phase failures", res.Cluster.Connect.Errors)
	writeErrors(&b, "failed attempts after the kill", res.Cluster.Recovery.Errors)
	if len(res.Cluster.Logs) > 0 {
		fmt.Fprintf(&b, "warnings and errors in the nodes' logs after the kill (most frequent first):\n")
		for i, l := range res.Cluster.Logs {
			if i == 15 {
				fmt.Fprintf(&b, "  ... %d more kinds (see -json)\n", len(res.Cluster.Logs)-i)
				break
			}
			fmt.Fprintf(&b, "  %s %-5s x%-6d %s\n", l.Node, l.Level, l.N, l.Msg)
		}
	}
	if res.BaselineErr != "" {
		fmt.Fprintf(&b, "baseline FAILED: %s\n", res.BaselineErr)
	}
	fmt.Fprintf(&b, "back: connected to a new leader with CONNACK 0 and, resubscribing, the SUBACK in; for good: the last time back of the\n"+
		"clients connected at the end of the wait; percentiles by nearest rank over every client (one not back counts as never);\n"+
		"the target is judged on for good; RSS = VmRSS of the process\n")
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// tableRows are the report's rows: figure, cluster, baseline.
func tableRows(res *result) [][3]string {
	cr, sr := &res.Cluster, res.Baseline
	na := "-"
	single := func(f func(*singleResult) string) string {
		if sr == nil {
			return "not run"
		}
		return f(sr)
	}
	if cr.Leader == "" { // -cluster=false, or it did not start
		cr = &clusterResult{Leader: "not run"}
	}
	rows := [][3]string{
		{"figure", "cluster (leader via HAProxy)", "single triad node (baseline)"},
		{"clients (persistent sessions)", fmt.Sprint(res.Conns), single(func(*singleResult) string { return fmt.Sprint(res.Conns) })},
		{"QoS 1 subscriptions each", fmt.Sprint(res.Subs), single(func(*singleResult) string { return fmt.Sprint(res.Subs) })},
		{"connect phase (all SUBACKed)", connectText(cr.Connect), single(func(s *singleResult) string { return connectText(s.Connect) })},
		{"broker RSS idle", "leader " + cr.Leader + ": " + mb(cr.LeaderBefore.RSS), single(func(s *singleResult) string { return mb(s.Before.RSS) })},
		{"broker RSS with the sessions", memText(cr.LeaderAfter), single(func(s *singleResult) string { return memText(s.After) })},
		{"broker RSS per 10k sessions", per10k(cr.LeaderBefore, cr.LeaderAfter, res.Conns), single(func(s *singleResult) string { return per10k(s.Before, s.After, res.Conns) })},
		{"broker status with the sessions", statusText(cr.LeaderStatus), single(func(s *singleResult) string { return statusText(s.Status) })},
	}
	for _, f := range cr.Followers {
		rows = append(rows,
			[3]string{"follower " + f.Node + " RSS idle -> with sessions", mb(f.Before.RSS) + " -> " + memText(f.After), na},
			[3]string{"follower " + f.Node + " RSS per 10k sessions", per10k(f.Before, f.After, res.Conns), na})
	}
	rows = append(rows,
		[3]string{"haproxy RSS with the clients", mb(cr.HAProxyAfter.RSS), na},
		[3]string{"this process (all clients) RSS", mb(cr.ClientsAfter.RSS), na})
	if !cr.Killed {
		return append(rows, [3]string{"kill -9 of the leader", "not reached", na})
	}
	rec := cr.Recovery
	rows = append(rows,
		[3]string{"kill -9 -> a node serves as leader (its log)", servingText(cr), na},
		[3]string{"kill -9 -> a node answers GET /leader", leaderText(cr), na},
		[3]string{"kill -9 -> first client back", secs(rec.First), na},
		[3]string{"kill -9 -> 50% / 99% / 100% back (first time)", fmt.Sprintf("%s / %s / %s", pct(rec.P50, rec.P50Reached), pct(rec.P99, rec.P99Reached), pct(rec.All, rec.AllReached)), na},
		[3]string{"kill -9 -> 50% / 99% / 100% back for good", fmt.Sprintf("%s / %s / %s", pct(rec.StableP50, rec.StableP50Reached), pct(rec.StableP99, rec.StableP99Reached), pct(rec.StableAll, rec.StableAllReached)), na},
		[3]string{"clients back", fmt.Sprintf("%d of %d (wait %s)", rec.Back, rec.Clients, secs(rec.Waited)), na},
		[3]string{"leaderships after the kill", leadershipText(cr), na},
		[3]string{"sessions present on the new leader", fmt.Sprintf("%d of %d back (%d lost)", rec.Back-rec.NotPresent, rec.Back, rec.NotPresent), na},
		[3]string{"connect attempts after the kill", fmt.Sprintf("%d (%d failed; %d drops after back, %d before the kill)", rec.Attempts, sum(rec.Errors), rec.Redrops, rec.Early), na},
		[3]string{"leader status after (" + cr.Settled + ")", settledText(cr), na},
		[3]string{"leader RSS after (" + cr.Settled + ")", memText(cr.NewLeaderMem), na},
		[3]string{"listen queue overflows / drops", fmt.Sprintf("%d / %d (kernel, netns-wide, kill to end of wait)", cr.ListenOverflow, cr.ListenDrops), na},
		[3]string{"target: 99% back within " + secs(res.Target), verdict(res), na},
	)
	return rows
}

func connectText(c connectResult) string {
	if c.Connected == 0 {
		return "none connected"
	}
	s := fmt.Sprintf("%s (%.0f/s)", secs(c.Elapsed), float64(c.Connected)/c.Elapsed.Seconds())
	if c.Failed > 0 {
		s += fmt.Sprintf(", %d FAILED", c.Failed)
	}
	return s
}

func memText(m mem) string {
	if m.RSS == 0 {
		return "?"
	}
	return fmt.Sprintf("%s (anon %s, peak %s)", mb(m.RSS), mb(m.Anon), mb(m.HWM))
}

func statusText(st nodeStatus) string {
	return fmt.Sprintf("%d conns, %d sessions, %d subscriptions", st.Connections, st.Sessions, st.Subscriptions)
}

func leaderText(cr *clusterResult) string {
	if cr.NewLeader == "" {
		return "NONE"
	}
	return fmt.Sprintf("%s after %s", cr.NewLeader, secs(cr.NewLeaderAfter))
}

// verdict judges the target on the clients back for good.
func servingText(cr *clusterResult) string {
	if cr.FirstServing == "" {
		return "none logged"
	}
	return fmt.Sprintf("%s after %s", cr.FirstServing, secs(cr.FirstServingAfter))
}

func verdict(res *result) string {
	rec := res.Cluster.Recovery
	switch {
	case !rec.StableP99Reached:
		return "NOT MET: fewer than 99% back for good"
	case res.Met:
		return "met (p99 for good " + secs(rec.StableP99) + ")"
	case rec.StableP99 > res.Target:
		return "NOT MET (p99 for good " + secs(rec.StableP99) + ")"
	}
	return "NOT MET (the run failed)"
}

func leadershipText(cr *clusterResult) string {
	if cr.Leaderships <= 1 {
		return fmt.Sprint(cr.Leaderships)
	}
	return fmt.Sprintf("%d: leadership moved %d times more (see the warnings below)", cr.Leaderships, cr.Leaderships-1)
}

func settledText(cr *clusterResult) string {
	if cr.SettleErr != "" {
		return "NOT SETTLED: " + cr.SettleErr
	}
	return statusText(cr.NewStatus)
}

// per10k is the RSS growth from before to after, scaled to 10,000
// sessions.
func per10k(before, after mem, n int) string {
	if before.RSS == 0 || after.RSS == 0 || n == 0 {
		return "?"
	}
	d := float64(after.RSS-before.RSS) * 10000 / float64(n)
	da := float64(after.Anon-before.Anon) * 10000 / float64(n)
	return fmt.Sprintf("%.1f MB (anon %.1f MB)", d/1e6, da/1e6)
}

func mb(b int64) string {
	if b == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/1e6)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// pct renders a percentile, or says it was not reached.
func pct(d time.Duration, reached bool) string {
	if !reached {
		return "never"
	}
	return secs(d)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// writeErrors prints counts by kind, most frequent first.
func writeErrors(b *strings.Builder, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		return m[kinds[i]] > m[kinds[j]] || m[kinds[i]] == m[kinds[j]] && kinds[i] < kinds[j]
	})
	fmt.Fprintf(b, "%s:", title)
	for _, k := range kinds {
		fmt.Fprintf(b, " %s x%d;", k, m[k])
	}
	b.WriteString("\n")
}
