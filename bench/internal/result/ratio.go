package result

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Ratio names two labels whose throughput WriteRatios compares: Num/Den.
type Ratio struct {
	Num, Den string
}

func (r Ratio) String() string { return r.Num + "/" + r.Den }

// ErrBadRatio reports a malformed ratio list.
var ErrBadRatio = errors.New("ratio must be NUM/DEN")

// ParseRatios parses a comma-separated list such as "triad/mochi,triad/mosquitto".
// An empty string gives no ratios.
func ParseRatios(s string) ([]Ratio, error) {
	var out []Ratio
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		num, den, ok := strings.Cut(part, "/")
		if !ok || num == "" || den == "" || strings.Contains(den, "/") {
			return nil, fmt.Errorf("%q: %w", part, ErrBadRatio)
		}
		out = append(out, Ratio{Num: num, Den: den})
	}
	return out, nil
}

// WriteRatios writes, for every scenario in rs and every ratio, the msg/s of
// Num divided by that of Den, or why it cannot be computed.
func WriteRatios(w io.Writer, rs []Result, ratios []Ratio) error {
	width := 18 // the names column, widened for long label pairs
	for _, ratio := range ratios {
		width = max(width, len(ratio.String())+1)
	}
	var b strings.Builder
	for _, group := range byScenario(rs) {
		for _, ratio := range ratios {
			fmt.Fprintf(&b, "%-14s %-*s %s\n", group[0].Scenario(), width, ratio.String()+":", ratioText(group, ratio))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write ratios: %w", err)
	}
	return nil
}

// ratioText computes one ratio line's text from one scenario's results.
func ratioText(group []Result, ratio Ratio) string {
	c := compare(group, ratio)
	if c.why != "" {
		return c.why
	}
	text := fmt.Sprintf("%.2fx msg/s (%.0f vs %.0f)", c.value, c.num.MsgPerSec, c.den.MsgPerSec)
	for _, r := range []Result{c.num, c.den} {
		if !r.OK {
			text += " [" + r.Label + " FAILED]"
		}
	}
	return text
}

// comparison is one ratio worked out on one scenario's results.
type comparison struct {
	num, den Result
	value    float64 // num.MsgPerSec / den.MsgPerSec
	why      string  // "n/a (...)" when there is no value
}

func compare(group []Result, ratio Ratio) comparison {
	num, okNum := find(group, ratio.Num)
	den, okDen := find(group, ratio.Den)
	c := comparison{num: num, den: den}
	switch {
	case !okNum:
		c.why = "n/a (no " + ratio.Num + " result)"
	case !okDen:
		c.why = "n/a (no " + ratio.Den + " result)"
	case den.MsgPerSec <= 0:
		c.why = "n/a (" + ratio.Den + " measured 0 msg/s)"
	default:
		c.value = num.MsgPerSec / den.MsgPerSec
	}
	return c
}

func find(group []Result, label string) (Result, bool) {
	for _, r := range group {
		if r.Label == label {
			return r, true
		}
	}
	return Result{}, false
}
