package broker

import (
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/config"
)

// ErrAuthBlocked is what the dynsec hook's OnConnect returns for a
// connection refused, without its credentials being checked, because
// its source address is blocked (mqtt.auth_rate_limit). The client has
// been answered "not authorized", as for a wrong password.
var ErrAuthBlocked = fmt.Errorf("source address blocked after failed authentications: %w", packets.ErrNotAuthorized)

// authGuard is the dynsec hook's defence against password guessing: it
// counts failed authentications and, with mqtt.auth_rate_limit, refuses
// the connections of a source address that failed too often.
type authGuard struct {
	lim           *authLimiter // nil: failures are counted, never limited
	window, block time.Duration
	now           func() time.Time
	log           *slog.Logger
	m             *metrics
}

func newAuthGuard(cfg config.AuthRateLimit, m *metrics, log *slog.Logger) *authGuard {
	g := &authGuard{window: cfg.Window.D(), block: cfg.Block.D(), now: time.Now, log: log, m: m}
	if cfg.Enabled() {
		g.lim = newAuthLimiter(cfg.Failures, g.window, g.block, maxAuthSources)
		log.Info("failed authentications limited per source address", "failures", cfg.Failures,
			"window", g.window, "block", g.block)
	}
	m.authGuard.Store(g)
	return g
}

// refuse reports whether cl's source address is blocked. A nil guard
// refuses nothing.
func (g *authGuard) refuse(cl *mqtt.Client) bool {
	if g == nil || g.lim == nil {
		return false
	}
	blocked, until := g.lim.blocked(sourceKey(cl.Net.Remote), g.now())
	if !blocked {
		return false
	}
	g.m.authRefused.Inc()
	// One line per attempt would let a guesser flood the log: the block
	// itself was logged at Warn.
	g.log.Debug("connection refused: source address blocked", "client", cl.ID,
		"remote", cl.Net.Remote, "listener", cl.Net.Listener, "until", until)
	return true
}

// failed records a failed authentication by cl; the first failure that
// blocks its source is logged at Warn.
func (g *authGuard) failed(cl *mqtt.Client, username string) {
	if g == nil {
		return
	}
	g.m.authFailures.Inc()
	if g.lim == nil {
		return
	}
	key := sourceKey(cl.Net.Remote)
	blocks, n := g.lim.fail(key, g.now())
	if !blocks {
		return
	}
	g.m.authBlocks.Inc()
	g.log.Warn("source address blocked after failed authentications", "source", key,
		"remote", cl.Net.Remote, "failures", n, "window", g.window, "block", g.block,
		"last_username", username, "listener", cl.Net.Listener)
}

// blockedSources is the number of source addresses blocked now.
func (g *authGuard) blockedSources() int {
	if g == nil || g.lim == nil {
		return 0
	}
	return g.lim.sweep(g.now())
}
