package broker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/dynsec"
	"github.com/triadmq/triad/sync/state"
)

// Dynamic security in cluster.mode dynsec: every node serves its own
// clients, and the dynamic-security configuration is the cluster's, kept
// by the leader's replication log. The broker runs no control request
// itself: it hands each to its DynsecAuthority (the node), which has the
// leader run it, and publishes the answer; the configuration reaches the
// broker through ApplyDynsec once it is durable on the quorum and applied
// on this node, with whose connections to close.

// DynsecAuthority is the cluster's dynamic-security configuration, for a
// broker in cluster.mode dynsec.
type DynsecAuthority interface {
	// Config returns the configuration file the cluster holds as this
	// node knows it; nil if it has none yet.
	Config() []byte
	// Control runs a control request on the cluster and returns the
	// response to publish. A change it makes has reached this broker
	// through ApplyDynsec before it returns.
	Control(ctx context.Context, req ControlRequest) ([]byte, error)
}

// ControlRequest is a control request of a client of this broker.
type ControlRequest struct {
	Username, ClientID string
	Payload            []byte
}

// controlTimeout bounds a control request handed to the authority: the
// leader's answer waits for the quorum, which waits at most ack_timeout
// (2 s by default) for a silent follower.
const controlTimeout = 10 * time.Second

// errUnavailable is the error a client's request gets when the cluster
// could not carry it out.
const errUnavailable = "Cluster unavailable: no leader reachable; nothing was changed"

// controlRemote has the authority run a control request of cl and
// publishes the response (or, when the cluster could not run it, an error
// for each command: the change may still have been made if the leader
// failed after it).
func (h *dynsecHook) controlRemote(cl *mqtt.Client, payload []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	resp, err := h.authority.Control(ctx, ControlRequest{Username: string(cl.Properties.Username), ClientID: cl.ID, Payload: payload})
	if err != nil {
		h.log.Error("dynamic-security request not carried out by the cluster", "client", cl.ID, "error", err)
		resp = dynsec.FailedResponse(payload, errUnavailable, h.ctl.MaxPayload)
	}
	if err := h.srv.Publish(dynsec.ResponseTopic, resp, false, 0); err != nil {
		h.log.Error("dynamic-security response not published", "client", cl.ID, "error", err)
	}
}

// ApplyDynsec makes file the broker's dynamic-security configuration (in
// cluster.mode dynsec), then closes the connections kicks names (sparing
// the requester's when it is on node thisNode) and those of clients the
// new configuration no longer lets in: unknown or disabled usernames. The
// second check covers changes that arrive without kicks (a snapshot).
func (b *Broker) ApplyDynsec(idx uint64, file []byte, kicks *state.DynsecKicks, thisNode string) error {
	h := b.dynsec
	if h == nil {
		return errors.New("broker: dynamic security is not enabled")
	}
	cfg, problems, err := dynsec.Load(file)
	if err != nil {
		return fmt.Errorf("broker: dynamic-security configuration at index %d: %w", idx, err)
	}
	for _, p := range problems {
		b.log.Warn("dynamic-security configuration: entry ignored", "index", idx, "problem", p.String())
	}
	h.ctlMu.Lock()
	defer h.ctlMu.Unlock()
	h.policy.Store(dynsec.NewPolicy(cfg))
	b.log.Info("dynamic-security configuration applied", "index", idx, "clients", len(cfg.Clients),
		"groups", len(cfg.Groups), "roles", len(cfg.Roles))
	h.kickAfterApply(cfg, kicks, thisNode)
	return nil
}

// kickAfterApply closes what ApplyDynsec says it closes.
func (h *dynsecHook) kickAfterApply(cfg *dynsec.Config, k *state.DynsecKicks, thisNode string) {
	names := map[string]bool{}
	anon, spare := false, ""
	if k != nil {
		for _, u := range k.Usernames {
			names[u] = true
		}
		anon = k.Anonymous
		if k.SpareNode == thisNode {
			spare = k.SpareClient
		}
	}
	for _, cl := range h.srv.Clients.GetAll() {
		if cl.Net.Inline || cl.Closed() || (spare != "" && cl.ID == spare) {
			continue
		}
		u := string(cl.Properties.Username)
		kick := (u == "" && anon) || (u != "" && names[u])
		if c, ok := cfg.Clients[u]; u != "" && (!ok || c.Disabled) {
			kick = true
		}
		if kick {
			h.log.Info("client disconnected by a dynamic-security change", "client", cl.ID, "username", u)
			atomic.StoreUint32(&cl.Properties.Will.Flag, 0)                 // no will, as in kick
			_ = h.srv.DisconnectClient(cl, packets.ErrAdministrativeAction) // it returns the code it was given
		}
	}
}
