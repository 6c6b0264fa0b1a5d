// Command loadgen is Triad's MQTT load generator: -pairs publisher/subscriber
// pairs over MQTT 3.1.1, each pair on its own topic bench/<run-id>/<i>. The
// subscribers connect and subscribe first, then every publisher starts at
// once and sends -count messages of -size bytes, keeping at most -inflight
// publishes unacknowledged. Each payload carries its send time and sequence
// number, so the subscribers measure publish-to-receipt latency.
//
// It prints one summary line (or, with -json, one result.Result as JSON) and
// exits 1 when the run failed: a publish failed, or at QoS 1/2 a message had
// not arrived when -timeout ran out (or nothing new arrived for -stall after
// the broker had acknowledged every publish). Flag errors exit 2.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/triadmq/triad/bench/internal/result"
	"github.com/triadmq/triad/bench/internal/stamp"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, asJSON, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	ctx, in := watchInterrupts(context.Background())
	res, runErr := run(ctx, cfg)
	res.OK = runErr == nil
	if runErr != nil {
		res.Error = runErr.Error()
	}
	status := 0
	if err := report(stdout, res, asJSON); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		status = 1
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "loadgen: %s: FAILED: %v\n", cfg.label, runErr)
		status = 1
	}
	if code := in.reraise(); code != 0 {
		return code
	}
	return status
}

// validID keeps the run id usable inside a topic and a client id.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func parseFlags(args []string, stderr io.Writer) (cfg config, asJSON bool, err error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:1883", "broker `host:port` (plain TCP)")
	fs.IntVar(&cfg.pairs, "pairs", 20, "publisher/subscriber pairs, one topic each")
	fs.IntVar(&cfg.qos, "qos", 1, "QoS of publishes and subscriptions: 0, 1 or 2")
	fs.IntVar(&cfg.size, "size", 256, "payload `bytes` (at least 16: send time + sequence)")
	fs.IntVar(&cfg.count, "count", 1000, "messages per publisher")
	fs.IntVar(&cfg.inflight, "inflight", 64, "max outstanding (unacknowledged) publishes per publisher")
	fs.DurationVar(&cfg.timeout, "timeout", 120*time.Second, "bound on the whole run, connecting included")
	fs.DurationVar(&cfg.idle, "idle", 2*time.Second, "QoS 0 (or after a failed publish): stop waiting once nothing new arrived for this long after publishing")
	fs.DurationVar(&cfg.stall, "stall", 10*time.Second, "QoS 1/2: fail once nothing new arrived for this long after every publish was acknowledged")
	fs.StringVar(&cfg.label, "label", "loadgen", "name for this run in the output, e.g. the broker")
	fs.StringVar(&cfg.runID, "run-id", "", "topic/client-id prefix (default random)")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON line")
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.runID == "" {
		cfg.runID = newRunID()
	}
	return cfg, asJSON, cfg.validate()
}

func (c config) validate() error {
	switch {
	case c.addr == "":
		return errors.New("-addr is required")
	case c.pairs < 1 || c.pairs > 10000:
		return fmt.Errorf("-pairs %d: want 1..10000", c.pairs)
	case c.qos < 0 || c.qos > 2:
		return fmt.Errorf("-qos %d: want 0, 1 or 2", c.qos)
	case c.size < stamp.HeaderLen || c.size > 1<<24:
		return fmt.Errorf("-size %d: want %d..%d", c.size, stamp.HeaderLen, 1<<24)
	case c.count < 1:
		return fmt.Errorf("-count %d: want at least 1", c.count)
	case c.inflight < 1 || c.inflight > 65535:
		return fmt.Errorf("-inflight %d: want 1..65535 (MQTT packet ids)", c.inflight)
	case c.timeout <= 0 || c.idle <= 0 || c.stall <= 0:
		return errors.New("-timeout, -idle and -stall must be positive")
	case !validID.MatchString(c.runID):
		return fmt.Errorf("-run-id %q: want 1..32 of [A-Za-z0-9_-]", c.runID)
	}
	return nil
}

// newRunID is a short random id; crypto/rand.Text never fails.
func newRunID() string {
	return rand.Text()[:10]
}

func report(w io.Writer, r result.Result, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		return nil
	}
	_, err := fmt.Fprintf(w,
		"%s: qos=%d pairs=%d size=%dB sent=%d received=%d/%d missing=%d dup=%d duration=%.3fs msg/s=%.0f p50=%.2fms p99=%.2fms max=%.2fms\n",
		r.Label, r.QoS, r.Pairs, r.Size, r.Sent, r.Received, r.Expected, r.Missing, r.Duplicates,
		r.DurationS, r.MsgPerSec, r.P50Ms, r.P99Ms, r.MaxMs)
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
