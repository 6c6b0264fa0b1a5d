package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/triadmq/triad/bench/internal/result"
)

// Bounds of one takedown besides -window-timeout and -settle-timeout.
const (
	exitPoll      = time.Millisecond // how often to look whether a signalled node has exited
	exitTimeout   = 15 * time.Second // for a node to exit after SIGTERM (its clean stop) or SIGKILL
	revokeTimeout = 10 * time.Second // for `triadctl revoke`
)

// bench runs the takedowns, one at a time, from one goroutine.
type bench struct {
	c   *cluster
	pr  *prober
	cfg config
	log *slog.Logger
}

// takedown waits until the cluster is settled, takes its leader down the
// way m says, measures the window (outageWindow) and brings the node back:
// a restart for sigterm and kill9, SIGCONT for sigstop. It returns nil and
// an error if the cluster did not settle first (no takedown happened); the
// record and an error if the prober had no round trip on a new connection
// within -window-timeout of the takedown, or the node could not be brought
// back: the run stops there, and cluster.stop continues a frozen node. A
// takedown cut short by the end of ctx returns no record.
func (b *bench) takedown(ctx context.Context, m mode, i int) (*record, error) {
	sctx, cancel := context.WithTimeout(ctx, b.cfg.settleTimeout)
	leader, err := b.c.settle(sctx, b.pr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s #%d: before the takedown: %w", m, i, err)
	}
	rec := &record{Kind: "takedown", Mode: m.String(), I: i, Node: leader}
	conn, n := b.pr.mark()
	attempts := b.pr.connectAttempts()
	last, hasLast := b.pr.lastSuccessBefore(n)

	poll := b.c.startLeaderPoll(ctx, leader) // which node leads next, and when
	defer poll.stop()
	at, err := b.takeDown(ctx, m, leader, rec)
	rec.At = at
	if err != nil {
		rec.Error = err.Error()
		return rec, fmt.Errorf("%s #%d: take %s down: %w", m, i, leader, err)
	}
	wctx, cancel := context.WithDeadline(ctx, at.Add(b.cfg.windowTimeout))
	first, err := b.pr.waitNewConnSuccess(wctx, conn)
	cancel()
	if err != nil {
		err = fmt.Errorf("%s #%d: after taking %s down: %w", m, i, leader, err)
		if ctx.Err() != nil {
			return nil, err // the run was stopped: nothing to hold against the cluster
		}
		rec.Error = err.Error()
		return rec, err
	}

	oks := b.pr.successesSince(n)
	if hasLast {
		oks = append([]time.Time{last}, oks...)
		rec.LastOKMs = ms(at.Sub(last))
	}
	w := outageWindow(oks, at, first.at)
	rec.OK, rec.WindowMs, rec.FirstOKMs = true, ms(w), ms(first.at.Sub(at))
	rec.Attempts = b.pr.connectAttempts() - attempts
	if d := b.pr.droppedAt(conn); !d.IsZero() {
		rec.DroppedMs = ms(d.Sub(at))
	}
	if node, seen := poll.wait(time.Second); node != "" {
		rec.NewLeader, rec.LeaderMs = node, ms(seen.Sub(at))
	}
	b.log.Info("takedown", "mode", m, "i", i, "node", leader, "window", w.Round(time.Millisecond),
		"new_leader", rec.NewLeader, "leads_after", round(rec.LeaderMs), "first_ok_after", round(rec.FirstOKMs))
	if err := b.bringBack(ctx, m, leader); err != nil {
		return rec, fmt.Errorf("%s #%d: bring %s back: %w", m, i, leader, err)
	}
	return rec, nil
}

// takeDown signals node and returns when the signal was sent. kill9 then
// waits for the process to be gone and runs `triadctl revoke` at once, as
// a service manager's ExecStopPost would; a failed revoke is recorded in
// rec and logged (the lease then expires by its TTL), not fatal.
func (b *bench) takeDown(ctx context.Context, m mode, node string, rec *record) (time.Time, error) {
	sig := map[mode]syscall.Signal{modeSIGTERM: syscall.SIGTERM, modeKill9: syscall.SIGKILL, modeSIGSTOP: syscall.SIGSTOP}[m]
	at := time.Now()
	if err := b.c.s.Signal(node, sig); err != nil {
		return at, err
	}
	switch m {
	case modeSIGSTOP:
		b.c.frozen = node
	case modeKill9:
		if err := b.waitExit(ctx, node); err != nil {
			return at, err
		}
		err := b.revoke(ctx, node)
		rec.RevokeMs = ms(time.Since(at))
		if err != nil {
			rec.RevokeErr = err.Error()
			b.log.Warn("revoke failed; the lease expires by its TTL", "node", node, "error", err)
		}
	}
	return at, nil
}

// revoke runs `triadctl --etcd ... --cluster ... revoke node`.
func (b *bench) revoke(ctx context.Context, node string) error {
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.c.bins.triadctl,
		"--etcd", strings.Join(b.c.l.EtcdEndpoints(), ","), "--cluster", b.c.l.Cluster, "revoke", node)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	b.log.Debug("revoked", "node", node, "output", string(bytes.TrimSpace(out)))
	return nil
}

// leaderPoll runs cluster.pollNewLeader in the background.
type leaderPoll struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the poll has ended; node and at are set then
	node   string
	at     time.Time
}

func (c *cluster) startLeaderPoll(ctx context.Context, old string) *leaderPoll {
	ctx, cancel := context.WithCancel(ctx)
	p := &leaderPoll{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.node, p.at = c.pollNewLeader(ctx, old)
	}()
	return p
}

// wait gives the poll up to d more, then stops it, and returns what it
// found ("" if nothing).
func (p *leaderPoll) wait(d time.Duration) (string, time.Time) {
	t := time.AfterFunc(d, p.cancel)
	defer t.Stop()
	<-p.done
	return p.node, p.at
}

func (p *leaderPoll) stop() {
	p.cancel()
	<-p.done
}

// bringBack undoes a takedown: SIGCONT for sigstop; otherwise it waits
// for the process to exit (SIGKILL if a SIGTERM is not honoured within
// exitTimeout) and restarts it on the same config and data.
func (b *bench) bringBack(ctx context.Context, m mode, node string) error {
	if m == modeSIGSTOP {
		if b.c.frozen == "" {
			return nil
		}
		b.c.frozen = ""
		return b.c.s.Signal(node, syscall.SIGCONT)
	}
	if err := b.waitExit(ctx, node); err != nil {
		b.log.Warn("node still running after SIGTERM; killing it", "node", node, "error", err)
		if err := b.c.s.Signal(node, syscall.SIGKILL); err != nil {
			return err
		}
		if err := b.waitExit(ctx, node); err != nil {
			return err
		}
	}
	_, err := b.c.s.RestartStopped()
	return err
}

// waitExit polls until node's process has exited, for at most exitTimeout.
func (b *bench) waitExit(ctx context.Context, node string) error {
	ctx, cancel := context.WithTimeout(ctx, exitTimeout)
	defer cancel()
	tick := time.NewTicker(exitPoll)
	defer tick.Stop()
	for b.c.s.Running(node) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (pid %d) has not exited: %w", node, b.c.s.PID(node), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// ms is d in fractional milliseconds.
func ms(d time.Duration) float64 { return result.Millis(d) }

// round turns fractional milliseconds into a duration to the millisecond,
// for the logs.
func round(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond)
}
