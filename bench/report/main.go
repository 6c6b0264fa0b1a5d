// Command report reads loadgen -json result lines on stdin and prints the
// comparison table (scenario | broker | msg/s | p50 | p99 | max) followed by
// throughput ratios between brokers, one line per scenario and -ratio pair.
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
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *ratioFlag); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, ratioFlag string) error {
	ratios, err := result.ParseRatios(ratioFlag)
	if err != nil {
		return fmt.Errorf("-ratio: %w", err)
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
	if len(ratios) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(out, "\nthroughput ratios (higher = first broker faster):"); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return result.WriteRatios(out, rs, ratios)
}
