package broker

import (
	"fmt"

	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/triadmq/triad/dynsec"
	"github.com/triadmq/triad/sync/state"
)

// addHooks attaches the hooks in the order they must run: access control
// first (so nothing it refuses reaches the others), then the protocol
// corrections, then persistence. With dynsec enabled it returns the
// configuration to record when it came from dynsec.file rather than from
// the replicated state.
func (b *Broker) addHooks(snap *state.Snapshot) (seed []byte, err error) {
	if b.cfg.Dynsec.Enabled {
		stored := snap.Dynsec
		if b.authority != nil {
			// cluster.mode dynsec: the cluster's configuration, never this
			// node's own store; a cluster that has none yet is seeded by
			// its leader (from its dynsec.file, read here too meanwhile).
			stored = b.authority.Config()
		}
		cfg, s, from, problems, err := LoadDynsec(stored, b.cfg.Dynsec.File)
		if err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		for _, p := range problems {
			b.log.Warn("dynamic-security configuration: entry ignored", "from", from, "problem", p.String())
		}
		b.log.Info("dynamic security enabled", "from", from, "clients", len(cfg.Clients),
			"groups", len(cfg.Groups), "roles", len(cfg.Roles), "allow_anonymous", b.cfg.Dynsec.AllowAnonymous)
		if len(cfg.Clients) == 0 {
			b.log.Warn("dynamic security has no clients: nobody can log in with a username; "+
				"create the first admin with `triad dynsec init` (see docs/dynsec.md)", "file", b.cfg.Dynsec.File)
		}
		b.dynsec = newDynsecHook(b.srv, b.c, b.log.With("component", "dynsec"), b.cfg.Dynsec.AllowAnonymous, dynsec.NewPolicy(cfg))
		b.dynsec.onChange, b.dynsec.persist, b.dynsec.authority = b.onDynsec, b.hook, b.authority
		b.dynsec.guard = newAuthGuard(b.cfg.MQTT.AuthRateLimit, b.m, b.log.With("component", "authlimit"))
		if err := b.srv.AddHook(b.dynsec, nil); err != nil {
			return nil, fmt.Errorf("broker: add dynsec hook: %w", err)
		}
		if b.authority == nil {
			seed = s
		}
	} else if err := b.srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker: add auth hook: %w", err)
	}
	if err := b.srv.AddHook(new(compatHook), nil); err != nil {
		return nil, fmt.Errorf("broker: add compatibility hook: %w", err)
	}
	if err := b.srv.AddHook(b.hook, nil); err != nil {
		return nil, fmt.Errorf("broker: add persistence hook: %w", err)
	}
	return seed, nil
}
