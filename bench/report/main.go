// Command report reads loadgen -json result lines on stdin and prints the
// comparison table (scenario | broker | msg/s | p50 | p99 | max), then
// throughput ratios between brokers, one line per scenario and -ratio pair,
// then whether each -target was met. Unmet targets are printed, not an error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/triadmq/triad/bench/internal/result"
)

func main() {
	ratioFlag := flag.String("ratio", "triad/mochi,triad/mosquitto", "comma-separated `NUM/DEN` label pairs whose msg/s to compare")
	targetFlag := flag.String("target", "", "comma-separated throughput floors `qosQxPAIRS:NUM/DEN>=MIN`, e.g. qos1x20:triad-cluster/triad>=0.7")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *ratioFlag, *targetFlag); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, ratioFlag, targetFlag string) error {
	ratios, err := result.ParseRatios(ratioFlag)
	if err != nil {
		return fmt.Errorf("-ratio: %w", err)
	}
	targets, err := result.ParseTargets(targetFlag)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	rs, err := result.ReadLines(in)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return errors.New("no results on stdin")
	}
	if err := result.WriteTable(out, rs); err != nil {
		return err
	}
	if len(ratios) > 0 {
		if _, err := fmt.Fprintln(out, "\nthroughput ratios (higher = first broker faster):"); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if err := result.WriteRatios(out, rs, ratios); err != nil {
			return err
		}
	}
	if len(targets) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(out, "\ntargets (msg/s ratio floors, same run):"); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	unmet, err := result.WriteTargets(out, rs, targets)
	if err != nil {
		return err
	}
	summary := "every target met"
	if unmet > 0 {
		summary = fmt.Sprintf("%d of the targets above NOT MET (or not measured)", unmet)
	}
	if _, err := fmt.Fprintln(out, summary); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
