package broker

import (
	"fmt"
	"slices"
	"sort"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/sync/state"
)

// restore loads a snapshot into a fresh mochi server before it serves:
// persistent sessions (offline until their client returns), subscriptions,
// retained messages, inbound QoS 2 state and deliveries, then replays the
// fan-out of messages accepted but not yet routed. mochi's own Stored*
// loading is not used: it loses message expiry and QoS 2 progress.
//
// It returns the ops that make the store agree with what was loaded
// (expired sessions dropped, replayed deliveries, packet ids reassigned);
// the caller makes them durable before opening listeners.
func (h *persistHook) restore(snap *state.Snapshot) ([]state.Op, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now().Unix()
	h.msgSeq.Store(snap.MsgSeq)
	var ops []state.Op

	for i := range snap.Sessions {
		rec := &snap.Sessions[i]
		if h.sessionExpired(rec, now) {
			ops = append(ops, state.Op{Kind: state.OpSessionDelete, ClientID: rec.ClientID})
			continue
		}
		h.restoreSession(rec)
	}
	for i := range snap.Subs {
		sub := &snap.Subs[i]
		s := h.sessions[sub.ClientID]
		if s == nil {
			continue // its session expired above
		}
		ps := packetSubscription(sub)
		if h.srv.Topics.Subscribe(sub.ClientID, ps) {
			atomic.AddInt64(&h.srv.Info.Subscriptions, 1)
		}
		s.cl.State.Subscriptions.Add(ps.Filter, ps)
	}
	for i := range snap.Retained {
		h.srv.Topics.RetainMessage(packetFromMessage(&snap.Retained[i]))
	}
	atomic.StoreInt64(&h.srv.Info.Retained, int64(h.srv.Topics.Retained.Len()))

	for _, in := range snap.Inbound {
		if s := h.sessions[in.ClientID]; s != nil {
			s.cl.State.Inflight.Set(packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Pubrec},
				PacketID:    in.PacketID, Created: in.Created,
			})
			atomic.AddInt64(&h.srv.Info.Inflight, 1)
		}
	}
	dops, err := h.restoreDeliveries(snap, now)
	if err != nil {
		return nil, err
	}
	ops = append(ops, dops...)
	rops, err := h.replayFanOut(snap, now)
	if err != nil {
		return nil, err
	}
	for _, s := range h.sessions {
		renumber(s.cl.State.Inflight, false)
	}
	return append(ops, rops...), nil
}

func (h *persistHook) sessionExpired(rec *state.Session, now int64) bool {
	if rec.DisconnectedAt == 0 {
		return false // connected when the node stopped: the clock starts now
	}
	limit := int64(h.srv.Options.Capabilities.MaximumSessionExpiryInterval)
	if rec.ProtocolVersion == 5 && rec.ExpiryFlag && int64(rec.ExpiryInterval) < limit {
		limit = int64(rec.ExpiryInterval)
	}
	return rec.DisconnectedAt+limit < now
}

func (h *persistHook) restoreSession(rec *state.Session) {
	cl := h.srv.NewClient(nil, rec.Listener, rec.ClientID, false)
	cl.Properties.Username = rec.Username
	cl.Properties.Clean = rec.Clean
	cl.Properties.ProtocolVersion = rec.ProtocolVersion
	cl.Properties.Props = packets.Properties{
		SessionExpiryInterval:     rec.ExpiryInterval,
		SessionExpiryIntervalFlag: rec.ExpiryFlag,
		ReceiveMaximum:            rec.ReceiveMaximum,
		MaximumPacketSize:         rec.MaximumPacketSize,
		User:                      packetUserProps(rec.User),
	}
	cl.Stop(packets.ErrServerShuttingDown) // offline; starts its expiry clock
	h.srv.Clients.Add(cl)
	s := newSession(cl)
	s.persistent = true
	h.sessions[rec.ClientID] = s
}

// restoreDeliveries puts stored deliveries back in flight. mu must be held.
func (h *persistHook) restoreDeliveries(snap *state.Snapshot, now int64) ([]state.Op, error) {
	var ops []state.Op
	for i := range snap.Deliveries {
		d := &snap.Deliveries[i]
		s := h.sessions[d.ClientID]
		m := snap.Msgs[d.MsgID]
		if s == nil {
			continue
		}
		if d.State == state.DeliveryDone {
			s.msgs[d.MsgID] = 0 // keeps the replay below from delivering it again
			continue
		}
		if m == nil || (m.Expiry > 0 && m.Expiry < now && d.State == state.DeliveryPublish) {
			ops = append(ops, state.Op{Kind: state.OpDeliveryDone, ClientID: d.ClientID, MsgID: d.MsgID})
			continue
		}
		if _, taken := s.cl.State.Inflight.Get(d.PacketID); taken {
			// The client's inbound QoS 2 uses the same id (mochi keeps both
			// directions in one map): move ours to a free id.
			pid, err := s.cl.NextPacketID()
			if err != nil {
				return nil, fmt.Errorf("restore %q: no free packet id: %w", d.ClientID, err)
			}
			moved := *d
			moved.PacketID = uint16(pid)
			d = &moved
			ops = append(ops, state.Op{Kind: state.OpDeliveryPut, Delivery: d})
		}
		s.cl.State.Inflight.Set(deliveryPacket(m, d, s.cl.Properties.ProtocolVersion))
		atomic.AddInt64(&h.srv.Info.Inflight, 1)
		s.pids[d.PacketID] = d.MsgID
		s.msgs[d.MsgID] = d.PacketID
	}
	return ops, nil
}

// replayFanOut delivers messages whose fan-out was not recorded before the
// node stopped to the persistent sessions subscribed to them, skipping
// sessions that already have (or had) the message. mu must be held.
func (h *persistHook) replayFanOut(snap *state.Snapshot, now int64) ([]state.Op, error) {
	var ids []uint64
	for id, m := range snap.Msgs {
		if !m.Routed {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var ops []state.Op
	for _, id := range ids {
		m := snap.Msgs[id]
		if m.Expiry > 0 && m.Expiry < now {
			ops = append(ops, state.Op{Kind: state.OpMsgRouted, MsgID: id})
			continue
		}
		subs := h.srv.Topics.Subscribers(m.Topic)
		if len(subs.Shared) > 0 {
			subs.SelectShared()
			subs.MergeSharedSelected()
		}
		for clientID, sub := range subs.Subscriptions {
			op, err := h.replayOne(m, clientID, sub)
			if err != nil {
				return nil, err
			}
			if op != nil {
				ops = append(ops, *op)
			}
		}
		ops = append(ops, state.Op{Kind: state.OpMsgRouted, MsgID: id})
	}
	return ops, nil
}

func (h *persistHook) replayOne(m *state.Message, clientID string, sub packets.Subscription) (*state.Op, error) {
	s := h.sessions[clientID]
	if s == nil {
		return nil, nil
	}
	if _, had := s.msgs[m.ID]; had || (sub.NoLocal && m.Origin == clientID) {
		return nil, nil
	}
	qos := min(m.QoS, sub.Qos)
	if qos == 0 {
		return nil, nil // offline QoS 0 is not queued
	}
	if s.cl.State.Inflight.Len() >= int(h.srv.Options.Capabilities.MaximumInflight) {
		h.m.messagesDropped.WithLabelValues("queue_full").Inc()
		h.log.Warn("session queue full: replayed message dropped", "client", clientID, "topic", m.Topic)
		return nil, nil
	}
	pid, err := s.cl.NextPacketID()
	if err != nil {
		return nil, fmt.Errorf("replay to %q: no free packet id: %w", clientID, err)
	}
	d := &state.Delivery{ClientID: clientID, MsgID: m.ID, PacketID: uint16(pid), QoS: qos,
		Retain: m.Retain && s.cl.Properties.ProtocolVersion == 5 && sub.RetainAsPublished}
	if len(sub.Identifiers) > 0 {
		for _, sid := range sub.Identifiers {
			d.SubIDs = append(d.SubIDs, sid)
		}
		sort.Ints(d.SubIDs)
	}
	s.cl.State.Inflight.Set(deliveryPacket(m, d, s.cl.Properties.ProtocolVersion))
	atomic.AddInt64(&h.srv.Info.Inflight, 1)
	s.pids[d.PacketID] = m.ID
	s.msgs[m.ID] = d.PacketID
	return &state.Op{Kind: state.OpDeliveryPut, Delivery: d}, nil
}

// ensure the hook satisfies mochi's interface.
var _ mqtt.Hook = (*persistHook)(nil)
