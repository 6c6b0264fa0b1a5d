package broker

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/triadmq/triad/config"
	"github.com/triadmq/triad/sync/state"
)

// BenchmarkStartRestore measures what a new leader does before it serves:
// open the store and restore benchRestoreSessions persistent sessions
// with 10 subscriptions each into mochi (Open + Start), then Close.
// bench/scale's failover of 9,216 such sessions spent 2.5 s here.
//
//	go test -run '^$' -bench StartRestore -benchtime 3x -cpuprofile cpu.out ./broker/
func BenchmarkStartRestore(b *testing.B) {
	const sessions, subsEach = 10_000, 10
	dir := b.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`node:
  name: n1
  data_dir: %s
mqtt:
  listeners:
    - type: tcp
      address: 127.0.0.1:0
store:
  no_sync: true
`, dir)), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	seedSessions(b, dir, sessions, subsEach)
	log := slog.New(slog.DiscardHandler)
	b.ResetTimer()
	for range b.N {
		br, err := OpenWith(cfg, log, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		if got := br.Status().Sessions; got < sessions {
			b.Fatalf("%d sessions restored, want %d", got, sessions)
		}
		b.StopTimer()
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*sessions), "µs/session")
}

// seedSessions records n offline persistent sessions with subs
// subscriptions each in the store under dir.
func seedSessions(b *testing.B, dir string, n, subs int) {
	b.Helper()
	s, err := state.Open(dir, state.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	c := state.NewCommitter(s, state.CommitterOptions{})
	var last uint64
	for i := range n {
		id := fmt.Sprintf("client-%05d", i)
		ops := []state.Op{{Kind: state.OpSessionPut, Session: &state.Session{ClientID: id, ProtocolVersion: 4,
			Listener: "tcp0", ConnectedAt: 1, DisconnectedAt: 0}}}
		for j := range subs {
			ops = append(ops, state.Op{Kind: state.OpSubPut, Sub: &state.Subscription{ClientID: id,
				Filter: fmt.Sprintf("fleet/%05d/sensor/%d/#", i, j), QoS: 1}})
		}
		if last, err = c.Append(ops...); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Wait(context.Background(), last); err != nil {
		b.Fatal(err)
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}
