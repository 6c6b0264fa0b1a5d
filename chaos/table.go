package chaos

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Table renders Check's rows: one line per scenario, the total last, then
// the examples of every violation found.
func Table(rows []Row) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\toperations\tacked\tlost\tduplicated\tout of order\tsplit brain\tlongest unavailability\tQoS 2 redelivered\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", r.Scenario, r.Operations, r.Acked,
			r.Lost, r.Duplicated, r.OutOfOrder, r.SplitBrain, r.LongestUnavailable.Round(time.Millisecond), r.Redelivered)
	}
	w.Flush()
	for _, r := range rows {
		if r.Scenario == "total" {
			continue
		}
		for _, e := range r.Examples {
			fmt.Fprintf(&b, "%s: %s\n", r.Scenario, e)
		}
	}
	return b.String()
}

// Summary is the one line `make chaos` and `make chaos-quick` end with:
// scenarios=N operations=N lost=N duplicated=N split_brain=N (and the
// order violations, which the line does not name, after them).
func Summary(scenarios int, total Row) string {
	return fmt.Sprintf("scenarios=%d operations=%d lost=%d duplicated=%d split_brain=%d out_of_order=%d",
		scenarios, total.Operations, total.Lost, total.Duplicated, total.SplitBrain, total.OutOfOrder)
}
