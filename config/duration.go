package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration, e.g. "24h0m0s" or "0s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d in time.Duration notation, e.g. "1h30m0s" or "0s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML accepts a Go duration string ("10s", "1h30m", "0") or a plain
// integer meaning seconds (30 = 30s). Negative durations are rejected. The
// error names the offending value; the caller adds the key path and line.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == nullTag {
		return fmt.Errorf("expected a duration such as \"10s\", got %s", describe(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// parseDuration implements UnmarshalYAML's grammar on the bare text.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if secs, err := strconv.ParseInt(t, 10, 64); err == nil {
		if secs < 0 {
			return 0, fmt.Errorf("%q is negative; durations must be >= 0", s)
		}
		if secs > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("%q seconds is too large a duration", s)
		}
		return time.Duration(secs) * time.Second, nil
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use e.g. \"10s\", \"1h30m\", or whole seconds such as 30)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative; durations must be >= 0", s)
	}
	return v, nil
}
