package broker

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/dynsec"
	"github.com/triadmq/triad/sync/state"
)

// control runs one request of the dynamic-security control API. A change
// is appended to the log before anything depends on it; the response (and
// any CONNACK the new configuration allows) leaves through gated
// connections, so no client hears of a change before it is durable on the
// quorum. The response is published under the policy the request was made
// under (its admins read it, even one the change removes), then the new
// policy applies: a client it newly admits cannot act before its CONNACK,
// and one it locks out is kicked.
func (h *dynsecHook) control(cl *mqtt.Client, payload []byte) {
	if h.authority != nil {
		h.controlRemote(cl, payload)
		return
	}
	h.ctlMu.Lock()
	defer h.ctlMu.Unlock()
	res := h.ctl.Handle(h.policy.Load().Config(), payload)
	if res.Err != nil {
		h.log.Error("dynamic-security request failed", "client", cl.ID, "error", res.Err)
	}
	var idx uint64
	var data []byte
	if res.Changed {
		data = res.Config.MarshalFile()
		var err error
		if idx, err = h.c.Append(state.Op{Kind: state.OpDynsecPut, Dynsec: data}); err != nil {
			// The store has failed: nothing more is acknowledged, and the
			// node stops. The change is not applied and gets no answer.
			h.log.Error("dynamic-security change not recorded; not applied", "client", cl.ID, "error", err)
			return
		}
	}
	if err := h.srv.Publish(dynsec.ResponseTopic, res.Response, false, 0); err != nil {
		h.log.Error("dynamic-security response not published", "client", cl.ID, "error", err)
	}
	if !res.Changed {
		return
	}
	h.policy.Store(dynsec.NewPolicy(res.Config))
	h.log.Info("dynamic-security configuration changed", "by", string(cl.Properties.Username),
		"client", cl.ID, "index", idx, "clients", len(res.Config.Clients),
		"groups", len(res.Config.Groups), "roles", len(res.Config.Roles))
	if h.onChange != nil {
		go func() { // once durable here: the file never holds a change a crash could undo
			if err := h.c.Wait(context.Background(), idx); err == nil {
				h.onChange(idx, data)
			}
		}()
	}
	h.kick(res.Kicks, cl)
}

// kick disconnects the clients a change concerns, with reason 0x98
// (administrative action) for MQTT 5, as Mosquitto does; requester only
// if the change does not spare it.
func (h *dynsecHook) kick(k dynsec.Kicks, requester *mqtt.Client) {
	if len(k.Usernames) == 0 && !k.Anonymous {
		return
	}
	names := make(map[string]bool, len(k.Usernames))
	for _, u := range k.Usernames {
		names[u] = true
	}
	for _, cl := range h.srv.Clients.GetAll() {
		if cl.Net.Inline || cl.Closed() || (k.SpareRequester && cl == requester) {
			continue
		}
		u := string(cl.Properties.Username)
		if (u == "" && k.Anonymous) || (u != "" && names[u]) {
			h.log.Info("client disconnected by a dynamic-security change", "client", cl.ID, "username", u)
			// No will for an administrative disconnect (Mosquitto sends none);
			// mochi reads the flag atomically, as it clears it on DISCONNECT.
			atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
			_ = h.srv.DisconnectClient(cl, packets.ErrAdministrativeAction) // it returns the code it was given
		}
	}
}

// LoadDynsec returns the dynamic-security configuration to start from:
// the replicated one, else (a cluster that never had one) the file, whose
// configuration then has to be recorded (seed), else an empty one. It
// names where the configuration came from.
func LoadDynsec(stored []byte, file string) (cfg *dynsec.Config, seed []byte, from string, problems []dynsec.Problem, err error) {
	if len(stored) > 0 {
		cfg, problems, err = dynsec.Load(stored)
		if err != nil {
			return nil, nil, "", nil, fmt.Errorf("dynsec: replicated configuration: %w", err)
		}
		return cfg, nil, "replicated state", problems, nil
	}
	data, err := os.ReadFile(file)
	switch {
	case os.IsNotExist(err):
		return dynsec.NewConfig(dynsec.DefaultAccess{}), nil, "none", nil, nil
	case err != nil:
		return nil, nil, "", nil, fmt.Errorf("dynsec: %w", err)
	}
	cfg, problems, err = dynsec.Load(data)
	if err != nil {
		return nil, nil, "", nil, fmt.Errorf("dynsec: %s: %w", file, err)
	}
	return cfg, cfg.MarshalFile(), file, problems, nil
}
