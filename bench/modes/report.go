package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/triadmq/triad/bench/internal/result"
	"github.com/triadmq/triad/config"
)

// modeResult is one mode's run; its JSON names are part of the -json
// output.
type modeResult struct {
	Mode string `json:"mode"`
	loadResult
	Nodes   []nodeClients `json:"nodes,omitempty"`   // connections per node at the end of the load
	CPU     []procCPU     `json:"cpu,omitempty"`     // CPUs each process used during the load
	Machine *machineCPU   `json:"machine,omitempty"` // the whole machine during the load
	// NodeMicrosPerMsg is the nodes' CPU, all together, per message
	// delivered (µs): what a message costs the cluster, whoever serves.
	NodeMicrosPerMsg float64 `json:"node_cpu_us_per_msg,omitempty"`
	StartS           float64 `json:"start_s"`         // from `triad demo` to ready for the load
	StopS            float64 `json:"stop_s"`          // from SIGTERM to every process gone
	Error            string  `json:"error,omitempty"` // why the mode did not run to its end
}

// ok says whether the mode ran to its end with every acknowledged message
// delivered.
func (r modeResult) ok() bool { return r.Error == "" && r.Lost == 0 }

// report is the whole run: the -json object, and what the table shows.
type report struct {
	Clients  int          `json:"clients"`
	Count    int          `json:"count"`    // messages per client
	Inflight int          `json:"inflight"` // per client
	Size     int          `json:"size"`     // payload bytes
	Cores    int          `json:"cores"`
	NodeCPU  float64      `json:"node_cpu"` // the budget applied per node process; 0: none
	Budget   string       `json:"budget"`   // the same in words, with why none when one was asked for
	Modes    []modeResult `json:"modes"`
	Ratio    float64      `json:"ratio_dynsec_full,omitempty"` // dynsec msg/s over full msg/s
	RatioWhy string       `json:"ratio_note,omitempty"`        // why there is no ratio
	ElapsedS float64      `json:"elapsed_s"`
}

// ok says whether every mode passed.
func (r report) ok() bool {
	for _, m := range r.Modes {
		if !m.ok() {
			return false
		}
	}
	return len(r.Modes) > 0
}

// throughputRatio is dynsec's aggregate msg/s over full's, or why there
// is none. A failed mode still gives a ratio (the table marks it).
func throughputRatio(ms []modeResult) (float64, string) {
	by := map[string]modeResult{}
	for _, m := range ms {
		by[m.Mode] = m
	}
	full, okFull := by[config.ModeFull]
	dyn, okDyn := by[config.ModeDynsec]
	switch {
	case !okFull || !okDyn:
		return 0, "n/a (needs both modes)"
	case full.MsgPerSec <= 0:
		return 0, "n/a (full measured 0 msg/s)"
	case dyn.MsgPerSec <= 0:
		return 0, "n/a (dynsec measured 0 msg/s)"
	}
	return dyn.MsgPerSec / full.MsgPerSec, ""
}

var tableHeader = []string{"mode", "clients", "messages", "acked", "delivered", "lost", "msg/s", "p50", "p99", "max"}

// writeReport writes the heading, one row per mode, the ratio, and per
// mode the clients per node, the CPU each process used and any failure.
func writeReport(w io.Writer, r report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nTriad cluster modes through HAProxy: %d loopback clients x %d QoS 1 msgs x %dB, inflight %d; %d cores; node CPU budget: %s; %.0fs in all\n",
		r.Clients, r.Count, r.Size, r.Inflight, r.Cores, r.Budget, r.ElapsedS)
	rows := [][]string{tableHeader}
	for _, m := range r.Modes {
		rows = append(rows, []string{m.Mode, fmt.Sprint(m.Clients), fmt.Sprint(m.Messages), fmt.Sprint(m.Acked),
			fmt.Sprint(m.Delivered), fmt.Sprint(m.Lost), fmt.Sprintf("%.0f", m.MsgPerSec),
			result.FmtMillis(m.P50Ms), result.FmtMillis(m.P99Ms), result.FmtMillis(m.MaxMs)})
	}
	writeRows(&b, rows)
	b.WriteString(ratioLine(r))
	b.WriteString("clients per node at the end of the load (GET /status connections):\n")
	for _, m := range r.Modes {
		fmt.Fprintf(&b, "  %-7s %s\n", m.Mode, spread(m.Nodes))
	}
	b.WriteString("CPUs used during the load (CPU time / wall time, first connect to last delivery; throttled: share of\n" +
		"the 100 ms periods in which a node used up its budget and was stopped until the next):\n")
	for _, m := range r.Modes {
		fmt.Fprintf(&b, "  %-7s %s%s\n", m.Mode, cpuLine(m.CPU), machineText(m.Machine))
	}
	b.WriteString("the three nodes' CPU together per message delivered:\n")
	for _, m := range r.Modes {
		per := "n/a"
		if m.NodeMicrosPerMsg > 0 {
			per = fmt.Sprintf("%.0f µs", m.NodeMicrosPerMsg)
		}
		fmt.Fprintf(&b, "  %-7s %s\n", m.Mode, per)
	}
	for _, m := range r.Modes {
		if !m.ok() {
			fmt.Fprintf(&b, "%s FAILED: %s\n", m.Mode, failure(m))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// ratioLine is the dynsec/full line of the table.
func ratioLine(r report) string {
	if r.RatioWhy != "" {
		return "dynsec/full: " + r.RatioWhy + "\n"
	}
	var full, dyn modeResult
	for _, m := range r.Modes {
		switch m.Mode {
		case config.ModeFull:
			full = m
		case config.ModeDynsec:
			dyn = m
		}
	}
	line := fmt.Sprintf("dynsec/full: %.2fx aggregate msg/s (%.0f vs %.0f)", r.Ratio, dyn.MsgPerSec, full.MsgPerSec)
	for _, m := range []modeResult{dyn, full} {
		if !m.ok() {
			line += " [" + m.Mode + " FAILED]"
		}
	}
	return line + "\n"
}

// spread is one mode's clients per node, e.g. "n1 10, n2 10 (leader), n3 10".
func spread(ns []nodeClients) string {
	if len(ns) == 0 {
		return "(not read)"
	}
	parts := make([]string, 0, len(ns))
	for _, n := range ns {
		p := fmt.Sprintf("%s %d", n.Name, n.Connections)
		switch {
		case n.Error != "":
			p = n.Name + " ? (" + n.Error + ")"
		case n.Role == "leader":
			p += " (leader)"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// cpuLine is one mode's CPU use per process, e.g. "n1 0.50, haproxy 0.31".
func cpuLine(ps []procCPU) string {
	if len(ps) == 0 {
		return "(not measured)"
	}
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		switch {
		case p.Err != "":
			parts = append(parts, p.Name+" ? ("+p.Err+")")
		case p.Throttled != nil:
			parts = append(parts, fmt.Sprintf("%s %.2f (throttled %.0f%%)", p.Name, p.CPUs, *p.Throttled*100))
		default:
			parts = append(parts, fmt.Sprintf("%s %.2f", p.Name, p.CPUs))
		}
	}
	return strings.Join(parts, ", ")
}

// machineText is the machine's share of a CPU line, e.g. "; machine
// 1.93 of 2 CPUs busy, 0.04 stolen".
func machineText(mc *machineCPU) string {
	if mc == nil {
		return ""
	}
	return fmt.Sprintf("; machine %.2f of %d CPUs busy, %.2f stolen", mc.Busy, mc.Cores, mc.Steal)
}

// failure says why a mode failed.
func failure(m modeResult) string {
	var why []string
	switch {
	case m.Lost > 0 && m.CutShort:
		why = append(why, fmt.Sprintf("%d acknowledged messages of %d not delivered before the load was cut short", m.Lost, m.Acked))
	case m.Lost > 0:
		why = append(why, fmt.Sprintf("%d acknowledged messages of %d not delivered", m.Lost, m.Acked))
	}
	for line := range strings.Lines(m.Error) {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			why = append(why, line)
		}
	}
	return strings.Join(why, "; ")
}

// writeRows writes rows as a table: the mode column left-aligned, the
// figures right-aligned, a rule under the header.
func writeRows(b *strings.Builder, rows [][]string) {
	widths := result.ColumnWidths(rows)
	for ri, row := range rows {
		result.WriteRow(b, row, widths, 1)
		if ri == 0 {
			result.WriteRule(b, widths)
			continue
		}
		b.WriteString("\n")
	}
}
