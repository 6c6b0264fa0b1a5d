package result

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Target is a throughput floor: in the workload with this QoS and number of
// pairs (any payload size), Ratio's msg/s must be at least Min, e.g. the
// cluster issue's "triad-cluster ≥ 0.7× triad at 20 pairs QoS 1".
type Target struct {
	QoS, Pairs int
	Ratio      Ratio
	Min        float64
}

// String gives the form ParseTargets reads: "qos1x20:triad-cluster/triad>=0.7".
func (t Target) String() string {
	return fmt.Sprintf("qos%dx%d:%s>=%s", t.QoS, t.Pairs, t.Ratio, strconv.FormatFloat(t.Min, 'f', -1, 64))
}

// ErrBadTarget reports a malformed target list.
var ErrBadTarget = errors.New("target must be qosQxPAIRS:NUM/DEN>=MIN")

// ParseTargets parses a comma-separated list such as
// "qos1x20:triad-cluster/triad>=0.7,qos1x20:triad-cluster/mochi>=0.35".
// An empty string gives no targets.
func ParseTargets(s string) ([]Target, error) {
	var out []Target
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		t, err := parseTarget(part)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func parseTarget(s string) (Target, error) {
	var t Target
	workload, rest, ok := strings.Cut(s, ":")
	if !ok {
		return t, ErrBadTarget
	}
	qos, pairs, ok := strings.Cut(strings.TrimPrefix(workload, "qos"), "x")
	if !ok || !strings.HasPrefix(workload, "qos") {
		return t, ErrBadTarget
	}
	var err error
	if t.QoS, err = strconv.Atoi(qos); err != nil || t.QoS < 0 || t.QoS > 2 {
		return t, fmt.Errorf("QoS %q: %w", qos, ErrBadTarget)
	}
	if t.Pairs, err = strconv.Atoi(pairs); err != nil || t.Pairs < 1 {
		return t, fmt.Errorf("pairs %q: %w", pairs, ErrBadTarget)
	}
	ratio, floor, ok := strings.Cut(rest, ">=")
	if !ok {
		return t, ErrBadTarget
	}
	rs, err := ParseRatios(ratio)
	if err != nil || len(rs) != 1 {
		return t, fmt.Errorf("ratio %q: %w", ratio, ErrBadTarget)
	}
	t.Ratio = rs[0]
	if t.Min, err = strconv.ParseFloat(strings.TrimSpace(floor), 64); err != nil || t.Min <= 0 {
		return t, fmt.Errorf("minimum %q: %w", floor, ErrBadTarget)
	}
	return t, nil
}

// WriteTargets writes one verdict line per target and matching scenario in
// rs: "met" or "NOT MET" with the ratio, or "n/a" and why. A failed
// numerator run cannot meet a target (its msg/s counts only what arrived);
// a failed denominator run is judged but tagged. It returns how many
// targets were not met, n/a ones included.
func WriteTargets(w io.Writer, rs []Result, ts []Target) (unmet int, err error) {
	var b strings.Builder
	groups := byScenario(rs)
	for _, t := range ts {
		found := false
		for _, group := range groups {
			if group[0].QoS != t.QoS || group[0].Pairs != t.Pairs {
				continue
			}
			found = true
			verdict, ok := targetVerdict(group, t)
			if !ok {
				unmet++
			}
			fmt.Fprintf(&b, "%-14s %s: %s\n", group[0].Scenario(), targetName(t), verdict)
		}
		if !found {
			unmet++
			fmt.Fprintf(&b, "%-14s %s: n/a (no QoS %d run with %d pairs)\n",
				fmt.Sprintf("qos%d %dx", t.QoS, t.Pairs), targetName(t), t.QoS, t.Pairs)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return unmet, fmt.Errorf("write targets: %w", err)
	}
	return unmet, nil
}

func targetName(t Target) string {
	return fmt.Sprintf("%s >= %.2fx", t.Ratio, t.Min)
}

// targetVerdict judges t on one scenario's results; ok means met.
func targetVerdict(group []Result, t Target) (text string, ok bool) {
	c := compare(group, t.Ratio)
	if c.why != "" {
		return c.why, false
	}
	figures := fmt.Sprintf("%.2fx msg/s (%.0f vs %.0f)", c.value, c.num.MsgPerSec, c.den.MsgPerSec)
	switch {
	case !c.num.OK:
		return "NOT MET: " + c.num.Label + " FAILED, " + figures, false
	case c.value < t.Min:
		text = "NOT MET: " + figures
	default:
		text, ok = "met: "+figures, true
	}
	if !c.den.OK {
		text += " [" + c.den.Label + " FAILED: its msg/s counts only what arrived]"
	}
	return text, ok
}
