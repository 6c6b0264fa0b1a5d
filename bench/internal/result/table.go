package result

import (
	"fmt"
	"io"
	"strings"
)

var tableHeader = []string{"scenario", "broker", "msg/s", "p50", "p99", "max"}

// WriteTable writes rs as a table with one row per result: scenarios in the
// order they first appear, and within a scenario the brokers in the order they
// appear, so each scenario's brokers sit next to each other. A failed result
// is marked after its row.
func WriteTable(w io.Writer, rs []Result) error {
	rows := [][]string{tableHeader}
	var notes []string
	for _, group := range byScenario(rs) {
		for _, r := range group {
			rows = append(rows, []string{
				r.Scenario(), r.Label, fmt.Sprintf("%.0f", r.MsgPerSec),
				FmtMillis(r.P50Ms), FmtMillis(r.P99Ms), FmtMillis(r.MaxMs),
			})
			notes = append(notes, failureNote(r))
		}
	}
	widths := ColumnWidths(rows)
	var b strings.Builder
	for i, row := range rows {
		WriteRow(&b, row, widths, 2)
		if i == 0 {
			WriteRule(&b, widths)
			continue
		}
		if note := notes[i-1]; note != "" {
			b.WriteString("  " + note)
		}
		b.WriteString("\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// ColumnWidths is the width of each column of rows.
func ColumnWidths(rows [][]string) []int {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	return widths
}

// WriteRow writes one row of a table, cells separated by " | ": the
// first left columns left-aligned (names), the rest right-aligned
// (figures). It writes no newline.
func WriteRow(b *strings.Builder, row []string, widths []int, left int) {
	for i, cell := range row {
		if i > 0 {
			b.WriteString(" | ")
		}
		pad := strings.Repeat(" ", widths[i]-len(cell))
		if i < left {
			b.WriteString(cell + pad)
		} else {
			b.WriteString(pad + cell)
		}
	}
}

// WriteRule ends the header row and writes the rule under it.
func WriteRule(b *strings.Builder, widths []int) {
	b.WriteString("\n")
	for i, wd := range widths {
		if i > 0 {
			b.WriteString("-+-")
		}
		b.WriteString(strings.Repeat("-", wd))
	}
	b.WriteString("\n")
}

// failureNote says why a result is not OK, or notes QoS 0 loss.
func failureNote(r Result) string {
	switch {
	case r.OK && r.Missing > 0:
		return fmt.Sprintf("(%d of %d lost, allowed at QoS 0)", r.Missing, r.Expected)
	case r.OK:
		return ""
	case r.Error != "":
		return "FAILED: " + oneLine(r.Error, 200)
	default:
		return fmt.Sprintf("FAILED: %d of %d missing", r.Missing, r.Expected)
	}
}

// oneLine folds s onto one line and cuts it to at most limit bytes.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		s = s[:limit-3] + "..."
	}
	return s
}

// FmtMillis formats milliseconds with about three significant figures.
func FmtMillis(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.0fms", ms)
	}
}

// byScenario groups rs by Scenario, keeping first-appearance order of both
// the scenarios and the results within each.
func byScenario(rs []Result) [][]Result {
	index := map[string]int{}
	var groups [][]Result
	for _, r := range rs {
		i, ok := index[r.Scenario()]
		if !ok {
			i = len(groups)
			index[r.Scenario()] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}
