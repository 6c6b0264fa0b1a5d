package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/dynsec"
	"github.com/triadmq/triad/sync/state"
)

// dynsecHook enforces Mosquitto-compatible dynamic security (dynsec.Policy)
// and serves its control API on dynsec.ControlTopic. It replaces mochi's
// allow-all hook when dynsec.enabled is set, and runs before the
// persistence hook, so nothing it refuses is ever recorded.
//
// mochi asks one question, OnACLCheck(client, topic, write), for four
// Mosquitto access types; the hook tells them apart:
//   - write=true is a PUBLISH (publishClientSend). mochi checks it before
//     resolving a topic alias and, for MQTT 3, disconnects on a denial;
//     so for MQTT 3 clients and aliased topics the check is made in
//     OnPublish instead, where a denial acknowledges and drops the message
//     as Mosquitto does.
//   - write=false while the client's SUBSCRIBE is being processed, for a
//     filter of that packet, is the subscribe check (decided in OnSubscribe).
//   - any other write=false is a delivery (publishClientReceive).
//
// UNSUBSCRIBE has no check in mochi: OnUnsubscribe swaps a denied filter
// for one no subscription can have, so the subscription is kept, and
// OnPacketEncode turns that filter's UNSUBACK reason into 0x87 (MQTT 5).
type dynsecHook struct {
	mqtt.HookBase
	srv       *mqtt.Server
	c         *state.Committer
	log       *slog.Logger
	allowAnon bool
	ctl       dynsec.Controller
	policy    atomic.Pointer[dynsec.Policy]
	onChange  func(idx uint64, file []byte) // a change was appended at idx (the node mirrors the file)
	persist   *persistHook                  // records the queued deliveries a reconnect drops
	guard     *authGuard                    // counts failed authentications, refuses blocked sources; nil: neither
	authority DynsecAuthority               // cluster.mode dynsec: runs the control requests (dynsec_authority.go)

	ctlMu sync.Mutex // control requests run one at a time, each on the latest configuration

	mu     sync.Mutex
	subs   map[*mqtt.Client]map[string]bool  // SUBSCRIBE in progress: filter → subscribe decision
	unsubs map[*mqtt.Client]map[uint16][]int // UNSUBSCRIBE packet id → indexes of denied filters
}

// deniedFilter replaces a filter whose unsubscription is denied: it cannot
// be subscribed to (no valid filter contains U+0000), so mochi finds
// nothing to remove.
const deniedFilter = "\x00triad: unsubscribe denied"

func newDynsecHook(srv *mqtt.Server, c *state.Committer, log *slog.Logger, allowAnon bool, p *dynsec.Policy) *dynsecHook {
	h := &dynsecHook{srv: srv, c: c, log: log, allowAnon: allowAnon,
		subs: map[*mqtt.Client]map[string]bool{}, unsubs: map[*mqtt.Client]map[uint16][]int{}}
	h.policy.Store(p)
	return h
}

func (h *dynsecHook) ID() string { return "triad-dynsec" }

func (h *dynsecHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablish, mqtt.OnACLCheck,
		mqtt.OnPublish, mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnUnsubscribe,
		mqtt.OnPacketEncode, mqtt.OnDisconnect}, []byte{b})
}

// identity is who a client is to dynsec. An empty username counts as none.
func identity(cl *mqtt.Client) dynsec.Identity {
	return dynsec.Identity{Username: string(cl.Properties.Username),
		HasUsername: len(cl.Properties.Username) > 0, ClientID: cl.ID}
}

// OnConnect authenticates: a refused client gets CONNACK 0x87 (MQTT 5) or
// return code 5 (MQTT 3) and is closed before mochi takes over any session.
// A client whose source address is blocked (authGuard) gets the same
// answer at once, its credentials unchecked, so guessing on gains nothing.
func (h *dynsecHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if h.guard.refuse(cl) {
		h.refuse(cl)
		return ErrAuthBlocked
	}
	id := identity(cl)
	switch h.policy.Load().Authenticate(id, pk.Connect.Password, pk.Connect.PasswordFlag) {
	case dynsec.AuthAllowed:
		return nil
	case dynsec.AuthNoDecision:
		if !id.HasUsername && h.allowAnon {
			return nil
		}
	}
	if id.HasUsername {
		// Without a username nothing is guessed: an anonymous client
		// refused because allow_anonymous is off is not counted.
		h.guard.failed(cl, id.Username)
	}
	h.log.Info("connection refused: not authorized", "client", cl.ID, "username", id.Username,
		"remote", cl.Net.Remote, "listener", cl.Net.Listener)
	h.refuse(cl)
	return packets.ErrNotAuthorized
}

// refuse answers cl's CONNECT "not authorized".
func (h *dynsecHook) refuse(cl *mqtt.Client) {
	code := packets.ErrNotAuthorized // 0x87, as Mosquitto's dynsec answers
	if cl.Properties.ProtocolVersion < 5 {
		code = packets.Err3NotAuthorized // return code 5; mochi does not map 0x87 itself
	}
	if err := h.srv.SendConnack(cl, code, false, nil); err != nil {
		h.log.Debug("refusal not sent", "client", cl.ID, "error", err)
	}
}

// OnSessionEstablish drops, from the session a client takes over, the
// queued and in-flight messages it may no longer receive: they were
// checked when they were queued, but its permissions may have changed
// since (Mosquitto checks them again too). It runs before mochi hands the
// session to the new connection, and before the persistence hook does.
func (h *dynsecHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok || old == cl {
		return
	}
	p, id := h.policy.Load(), identity(cl)
	for _, pk := range old.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type != packets.Publish || p.Allowed(id, dynsec.AccessReceive, pk.TopicName) {
			continue
		}
		if old.State.Inflight.Delete(pk.PacketID) {
			atomic.AddInt64(&h.srv.Info.Inflight, -1) // as mochi counts its own deletions
			h.persist.dropDelivery(old, pk.PacketID, "not_authorized")
			h.log.Debug("queued message dropped: the client may no longer receive it", "client", cl.ID, "topic", pk.TopicName)
		}
	}
}

// OnConnectAuthenticate lets through what OnConnect accepted.
func (h *dynsecHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck answers mochi's check (see the type's comment).
func (h *dynsecHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	p := h.policy.Load()
	id := identity(cl)
	if write {
		if cl.Properties.ProtocolVersion < 5 || topic == "" {
			return true // decided in OnPublish
		}
		return p.Allowed(id, dynsec.AccessPublish, topic)
	}
	if allow, ok := h.subscribeDecision(cl, topic); ok {
		if !strings.ContainsAny(topic, "+#") {
			// A filter without wildcards is also a topic name: a delivery
			// of that topic to this client, racing with its SUBSCRIBE,
			// asks the same question. Requiring both permissions keeps
			// either answer safe; such a subscription could not deliver
			// anything without publishClientReceive anyway.
			allow = allow && p.Allowed(id, dynsec.AccessReceive, topic)
		}
		return allow
	}
	return p.Allowed(id, dynsec.AccessReceive, topic)
}

func (h *dynsecHook) subscribeDecision(cl *mqtt.Client, filter string) (allow, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	allow, ok = h.subs[cl][filter]
	return allow, ok
}

// OnPublish serves the control API, swallows the rest of $CONTROL, and
// checks the publishes OnACLCheck left to it: a denied one is acknowledged
// (QoS 1/2) and dropped, as Mosquitto does for MQTT 3.
func (h *dynsecHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if cl.Properties.ProtocolVersion < 5 || pk.Properties.TopicAliasFlag {
		if !h.policy.Load().Allowed(identity(cl), dynsec.AccessPublish, pk.TopicName) {
			return pk, packets.CodeSuccessIgnore
		}
	}
	switch {
	case pk.TopicName == dynsec.ControlTopic:
		h.control(cl, pk.Payload)
		return pk, packets.CodeSuccessIgnore
	case strings.HasPrefix(pk.TopicName, "$CONTROL/"):
		return pk, packets.CodeSuccessIgnore // Mosquitto delivers no $CONTROL publish
	}
	return pk, nil
}

// OnSubscribe decides every filter of the packet; mochi's checks that
// follow read the decisions until OnSubscribed.
func (h *dynsecHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	p, id := h.policy.Load(), identity(cl)
	decisions := make(map[string]bool, len(pk.Filters))
	for _, f := range pk.Filters {
		decisions[f.Filter] = p.Allowed(id, dynsec.AccessSubscribe, f.Filter)
	}
	h.mu.Lock()
	h.subs[cl] = decisions
	h.mu.Unlock()
	return pk
}

// OnSubscribed ends the subscribe window.
func (h *dynsecHook) OnSubscribed(cl *mqtt.Client, _ packets.Packet, _ []byte) {
	h.mu.Lock()
	delete(h.subs, cl)
	h.mu.Unlock()
}

// OnUnsubscribe keeps the subscriptions whose removal is denied.
func (h *dynsecHook) OnUnsubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	p, id := h.policy.Load(), identity(cl)
	var denied []int
	filters := pk.Filters
	for i, f := range pk.Filters {
		if p.Allowed(id, dynsec.AccessUnsubscribe, f.Filter) {
			continue
		}
		if denied == nil {
			filters = append(packets.Subscriptions(nil), pk.Filters...) // the packet's slice may be shared
		}
		filters[i].Filter = deniedFilter
		denied = append(denied, i)
	}
	if denied == nil {
		return pk
	}
	pk.Filters = filters
	if cl.Properties.ProtocolVersion >= 5 {
		h.mu.Lock()
		if h.unsubs[cl] == nil {
			h.unsubs[cl] = map[uint16][]int{}
		}
		h.unsubs[cl][pk.PacketID] = denied
		h.mu.Unlock()
	}
	return pk
}

// OnPacketEncode gives the denied filters of an UNSUBACK reason 0x87.
func (h *dynsecHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Unsuback {
		return pk
	}
	h.mu.Lock()
	denied, ok := h.unsubs[cl][pk.PacketID]
	if ok {
		delete(h.unsubs[cl], pk.PacketID)
	}
	h.mu.Unlock()
	if !ok {
		return pk
	}
	codes := bytes.Clone(pk.ReasonCodes)
	for _, i := range denied {
		if i < len(codes) {
			codes[i] = packets.ErrNotAuthorized.Code
		}
	}
	pk.ReasonCodes = codes
	return pk
}

// OnDisconnect forgets the client's pending decisions.
func (h *dynsecHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	delete(h.subs, cl)
	delete(h.unsubs, cl)
	h.mu.Unlock()
}
