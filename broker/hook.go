package broker

import (
	"bytes"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/sync/state"
)

// persistHook turns mochi's events into state ops, appended to the
// committer in the order they happen. It never waits for the disk: the
// gated connections hold back whatever a client is told until the ops
// recorded before it are durable (see gate.go).
//
// Ownership: mu guards sessions and slots. Ops that depend on that map's
// state are appended while holding mu, so their order in the log is the
// order of the decisions.
type persistHook struct {
	mqtt.HookBase
	srv    *mqtt.Server
	c      *state.Committer
	m      *metrics
	log    *slog.Logger
	limits hookLimits
	now    func() time.Time

	msgSeq atomic.Uint64

	mu       sync.Mutex
	sessions map[string]*session // client id → the session's current owner
	slots    map[string]*pubSlot // publisher client id → message it is publishing
}

type hookLimits struct {
	maxInflight   uint16 // outbound send quota per client
	messageExpiry int64  // seconds; 0 = none
}

// session is what the hook knows of one client's session.
type session struct {
	cl         *mqtt.Client              // the connection (or restored offline client) that owns it
	persistent bool                      // recorded in the store
	pids       map[uint16]uint64         // outbound packet id → message id
	msgs       map[uint64]uint16         // message id → outbound packet id (0: done, awaiting routing)
	inRetained bool                      // processing a SUBSCRIBE: deliveries are retained messages
	stash      map[uint16]packets.Packet // deliveries moved aside for a colliding client packet id (hook_pid.go)
	// Takeover (hook_takeover.go): the clients this session was inherited
	// from, and a channel closed once cl's CONNACK is written.
	ancestors []ancestor
	connacked chan struct{}
}

func newSession(cl *mqtt.Client) *session {
	return &session{cl: cl, persistent: persistent(cl), pids: map[uint16]uint64{}, msgs: map[uint64]uint16{},
		connacked: closedChan}
}

// pubSlot is the message a publisher's read goroutine is processing, so
// that fan-out deliveries can point at the stored message.
type pubSlot struct {
	id      uint64
	topic   string
	created int64
	payload []byte
}

func newPersistHook(srv *mqtt.Server, c *state.Committer, m *metrics, log *slog.Logger, lim hookLimits) *persistHook {
	return &persistHook{
		srv: srv, c: c, m: m, log: log, limits: lim, now: time.Now,
		sessions: map[string]*session{},
		slots:    map[string]*pubSlot{},
	}
}

func (h *persistHook) ID() string { return "triad-persist" }

func (h *persistHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnClientExpired,
		mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnPublish, mqtt.OnPublished,
		mqtt.OnRetainMessage, mqtt.OnRetainedExpired, mqtt.OnQosPublish, mqtt.OnQosComplete,
		mqtt.OnQosDropped, mqtt.OnPacketRead, mqtt.OnPacketProcessed, mqtt.OnPublishDropped,
		mqtt.OnPacketSent,
	}, []byte{b})
}

// appendOps records ops; a failure means the store is gone, which the
// committer reports to the broker (it stops serving).
func (h *persistHook) appendOps(ops ...state.Op) bool {
	if len(ops) == 0 {
		return true
	}
	if _, err := h.c.Append(ops...); err != nil {
		h.log.Error("record state change", "error", err, "op", ops[0].Kind.String())
		return false
	}
	return true
}

// current returns the session cl owns, or nil if cl is a superseded
// connection. mu must be held.
func (h *persistHook) current(cl *mqtt.Client) *session {
	if s := h.sessions[cl.ID]; s != nil && s.cl == cl {
		return s
	}
	return nil
}

// OnConnect applies limits mochi has no option for: the outbound in-flight
// window, and no outbound topic aliases (stored deliveries keep topics).
//
// The window is enforced by the connection (see outWindow). mochi's own send
// quota is switched off, here and wherever mochi would switch it on again
// (it re-arms it from Props.ReceiveMaximum when a session is inherited),
// because its Inflight.NextImmediate deadlocks under load.
func (h *persistHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	cl.Properties.Props.TopicAliasMaximum = 0
	window := h.limits.maxInflight
	if rm := cl.Properties.Props.ReceiveMaximum; rm > 0 && rm < window {
		window = rm
	}
	cl.Properties.Props.ReceiveMaximum = 0
	cl.State.Inflight.ResetSendQuota(0)
	if g, ok := cl.Net.Conn.(*gatedConn); ok {
		g.setWindow(int(window))
	} else {
		h.log.Warn("connection is not gated; no outbound window", "client", cl.ID, "listener", cl.Net.Listener)
	}
	return nil
}

// OnSessionEstablished runs once mochi has answered the CONNECT and, for a
// present session, resent its in-flight map: the new messages the
// connection held back meanwhile go out (gatedConn.resendDone).
func (h *persistHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if g, ok := cl.Net.Conn.(*gatedConn); ok {
		g.resendDone()
	}
}

// OnSessionEstablish runs before mochi inherits or discards an existing
// session and before CONNACK.
func (h *persistHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.sessions[cl.ID]
	if old != nil && len(old.stash) > 0 {
		h.unstashLocked(old)
	}
	s := newSession(cl)
	inherit := old != nil && !pk.Connect.Clean &&
		!(old.cl.Properties.Clean && old.cl.Properties.ProtocolVersion < 5) // as mochi's inheritClientSession
	if inherit {
		s.inherit(old, h.now())
		renumber(old.cl.State.Inflight, false) // mochi resends them after CONNACK, sorted
	}
	h.sessions[cl.ID] = s
	if old != nil {
		old.markConnacked() // superseded: whoever waits on it looks again
	}

	var ops []state.Op
	if old != nil && old.persistent && (!inherit || !s.persistent) {
		ops = append(ops, state.Op{Kind: state.OpSessionDelete, ClientID: cl.ID})
	}
	if s.persistent {
		ops = append(ops, state.Op{Kind: state.OpSessionPut, Session: sessionFromClient(cl, h.now().Unix())})
	}
	h.appendOps(ops...)
}

func (h *persistHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.current(cl)
	if s == nil {
		return
	}
	if len(s.stash) > 0 {
		h.unstashLocked(s)
	}
	s.markConnacked() // strays still on their way go to the offline session
	if expire {
		delete(h.sessions, cl.ID)
		if s.persistent {
			h.appendOps(state.Op{Kind: state.OpSessionDelete, ClientID: cl.ID})
		}
		return
	}
	if s.persistent {
		rec := sessionFromClient(cl, 0)
		rec.DisconnectedAt = h.now().Unix()
		h.appendOps(state.Op{Kind: state.OpSessionPut, Session: rec})
	}
}

// OnClientExpired also removes the client's subscriptions from the topic
// index, which mochi forgets to do.
func (h *persistHook) OnClientExpired(cl *mqtt.Client) {
	for filter := range cl.State.Subscriptions.GetAll() {
		if h.srv.Topics.Unsubscribe(filter, cl.ID) {
			atomic.AddInt64(&h.srv.Info.Subscriptions, -1)
		}
		cl.State.Subscriptions.Delete(filter)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.current(cl); s != nil {
		delete(h.sessions, cl.ID)
		if s.persistent {
			h.appendOps(state.Op{Kind: state.OpSessionDelete, ClientID: cl.ID})
		}
	}
}

func (h *persistHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.current(cl)
	if s == nil {
		return
	}
	s.inRetained = true // until OnPacketProcessed: mochi now sends retained messages
	if !s.persistent {
		return
	}
	var ops []state.Op
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < packets.ErrUnspecifiedError.Code {
			ops = append(ops, state.Op{Kind: state.OpSubPut, Sub: subscriptionRecord(cl.ID, f, codes[i])})
		}
	}
	h.appendOps(ops...)
}

func (h *persistHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.current(cl)
	if s == nil || !s.persistent {
		return
	}
	ops := make([]state.Op, 0, len(pk.Filters))
	for _, f := range pk.Filters {
		ops = append(ops, state.Op{Kind: state.OpSubDelete, ClientID: cl.ID, Filter: f.Filter})
	}
	h.appendOps(ops...)
}
