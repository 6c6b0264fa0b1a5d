package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/triadmq/triad/bench/internal/result"
)

// mode is one way of taking the leader down.
type mode int

const (
	modeSIGTERM mode = iota // graceful stop: the leader hands over
	modeKill9               // crash: SIGKILL, then `triadctl revoke` as ExecStopPost would
	modeSIGSTOP             // frozen host: SIGSTOP until another node serves, then SIGCONT
)

var modeNames = []string{"sigterm", "kill9", "sigstop"}

func (m mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("mode(%d)", int(m))
	}
	return modeNames[m]
}

// parseModes reads a comma-separated list of mode names, in run order.
func parseModes(s string) ([]mode, error) {
	var out []mode
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		i := slices.Index(modeNames, part)
		if i < 0 {
			return nil, fmt.Errorf("mode %q: want %s", part, strings.Join(modeNames, ", "))
		}
		if slices.Contains(out, mode(i)) {
			return nil, fmt.Errorf("mode %q given twice", part)
		}
		out = append(out, mode(i))
	}
	if len(out) == 0 {
		return nil, errors.New("no mode given")
	}
	return out, nil
}

// target is the bound on the p99 window of m: graceful 0.3s,
// crash 1s, frozen the lease TTL + 1s.
func (m mode) target(ttl time.Duration) time.Duration {
	switch m {
	case modeSIGTERM:
		return 300 * time.Millisecond
	case modeKill9:
		return time.Second
	default:
		return ttl + time.Second
	}
}

// outageWindow is the window of one takedown: the longest gap between
// consecutive successful round trips from the last one at or before the
// takedown (the takedown itself if there is none) to first, the first
// success on a connection opened after the takedown. oks are round trips
// in time order, from before the takedown on; those after first are
// ignored. A success on the old connection after the takedown (a leader
// still finishing its graceful stop) splits the gap.
func outageWindow(oks []time.Time, takedown, first time.Time) time.Duration {
	start := takedown
	for _, t := range oks {
		if t.After(takedown) {
			break
		}
		start = t
	}
	var w time.Duration
	prev := start
	for _, t := range oks {
		if !t.After(start) {
			continue
		}
		if t.After(first) {
			break
		}
		w, prev = max(w, t.Sub(prev)), t
	}
	return max(w, first.Sub(prev))
}

// record is one takedown, a JSON line with -json. Durations are in
// milliseconds; "since the takedown" means since the signal was sent.
type record struct {
	Kind      string    `json:"kind"` // "takedown"
	Mode      string    `json:"mode"`
	I         int       `json:"i"`    // 1..n within the mode
	At        time.Time `json:"at"`   // when the signal was sent
	Node      string    `json:"node"` // the leader taken down
	NewLeader string    `json:"new_leader,omitempty"`
	OK        bool      `json:"ok"` // the window was measured
	WindowMs  float64   `json:"window_ms"`
	LastOKMs  float64   `json:"last_ok_ms"`          // from the last round trip before the takedown to the takedown
	DroppedMs float64   `json:"dropped_ms"`          // from the takedown until the prober saw its connection end
	LeaderMs  float64   `json:"leader_ms"`           // from the takedown until another node answered GET /leader 200 (polled every 10ms)
	FirstOKMs float64   `json:"first_ok_ms"`         // from the takedown to the first round trip on a new connection
	Attempts  int       `json:"connect_attempts"`    // connect attempts from the takedown to that round trip
	RevokeMs  float64   `json:"revoke_ms,omitempty"` // kill9: from the takedown until triadctl revoke returned
	RevokeErr string    `json:"revoke_error,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// summary is one mode's figures, a JSON line with -json.
type summary struct {
	Kind     string  `json:"kind"` // "summary"
	Mode     string  `json:"mode"`
	N        int     `json:"n"`      // takedowns measured
	Failed   int     `json:"failed"` // takedowns without a measured window
	Wanted   int     `json:"wanted"` // takedowns asked for (-n)
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	TargetMs float64 `json:"target_ms"` // bound on p99
	Met      bool    `json:"met"`
}

// summarize computes each mode's percentiles (nearest rank) over its
// measured windows. A mode meets its target when every takedown asked for
// was measured and the p99 window is at most the target.
func summarize(modes []mode, n int, ttl time.Duration, recs []record) []summary {
	out := make([]summary, 0, len(modes))
	for _, m := range modes {
		s := summary{Kind: "summary", Mode: m.String(), Wanted: n, TargetMs: result.Millis(m.target(ttl))}
		var ws []time.Duration
		for _, r := range recs {
			switch {
			case r.Mode != s.Mode:
			case r.OK:
				ws = append(ws, time.Duration(r.WindowMs*float64(time.Millisecond)))
			default:
				s.Failed++
			}
		}
		lat := result.Summarize(ws)
		s.N = len(ws)
		s.P50Ms, s.P99Ms, s.MaxMs = result.Millis(lat.P50), result.Millis(lat.P99), result.Millis(lat.Max)
		s.Met = s.N == n && s.Failed == 0 && s.P99Ms <= s.TargetMs
		out = append(out, s)
	}
	return out
}

var tableHeader = []string{"mode", "n", "p50", "p99", "max", "target (p99)", "met?"}

// writeTable writes one row per mode, with a note after a row whose
// takedowns were not all measured.
func writeTable(w io.Writer, ss []summary) error {
	rows := [][]string{tableHeader}
	for _, s := range ss {
		met := "met"
		if !s.Met {
			met = "NOT MET"
		}
		rows = append(rows, []string{
			s.Mode, fmt.Sprint(s.N), fmtMs(s.P50Ms, s.N), fmtMs(s.P99Ms, s.N), fmtMs(s.MaxMs, s.N),
			"<= " + fmtMs(s.TargetMs, 1), met,
		})
	}
	widths := make([]int, len(tableHeader))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for i, row := range rows {
		for j, cell := range row {
			if j > 0 {
				b.WriteString(" | ")
			}
			pad := strings.Repeat(" ", widths[j]-len(cell))
			switch {
			case j == len(row)-1:
				b.WriteString(cell) // no trailing blanks
			case j == 0:
				b.WriteString(cell + pad)
			default:
				b.WriteString(pad + cell)
			}
		}
		if i > 0 {
			if s := ss[i-1]; s.N < s.Wanted {
				fmt.Fprintf(&b, "  (%d of %d takedowns measured, %d failed)", s.N, s.Wanted, s.Failed)
			}
		}
		b.WriteString("\n")
		if i == 0 {
			for j, wd := range widths {
				if j > 0 {
					b.WriteString("-+-")
				}
				b.WriteString(strings.Repeat("-", wd))
			}
			b.WriteString("\n")
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// fmtMs shows milliseconds as seconds with millisecond precision; "-"
// when there was nothing to measure.
func fmtMs(ms float64, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fs", ms/1000)
}
