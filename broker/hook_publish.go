package broker

import (
	"bytes"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/sync/state"
)

// OnPublish records an accepted QoS 1/2 message before mochi writes its
// PUBACK/PUBREC (which the gate then holds until the record is durable).
func (h *persistHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.m.messagesIn.WithLabelValues(qosLabel(pk.FixedHeader.Qos)).Inc()
	if pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	id := h.msgSeq.Add(1)
	if lim := h.limits.messageExpiry; lim > 0 {
		if limit := pk.Created + lim; pk.Expiry == 0 || pk.Expiry > limit {
			pk.Expiry = limit
		}
	}
	pk.Created = orderKey(id) // see hook_order.go
	ops := []state.Op{{Kind: state.OpMsgAccept, Msg: messageFromPacket(id, &pk)}}

	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[cl.ID]; s != nil && s.cl != cl {
		// Read from a connection whose session a new one has taken over:
		// not accepted (no ack), the client sends it again on the new one.
		return pk, packets.ErrRejectPacket
	}
	if s := h.current(cl); s != nil && s.persistent && pk.FixedHeader.Qos == 2 {
		ops = append(ops, state.Op{Kind: state.OpInboundPut, Inbound: &state.Inbound{
			ClientID: cl.ID, PacketID: pk.PacketID, Created: pk.Created}})
	}
	if !h.appendOps(ops...) {
		cl.Stop(state.ErrClosed)
		return pk, packets.ErrRejectPacket // no ack: the client will send it again
	}
	h.slots[cl.ID] = &pubSlot{id: id, topic: pk.TopicName, created: pk.Created, payload: pk.Payload}
	return pk, nil
}

// OnPublished runs after mochi's fan-out: the deliveries it created are
// recorded, so the message no longer needs replaying.
func (h *persistHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Qos == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if slot := h.slots[cl.ID]; slot != nil {
		delete(h.slots, cl.ID)
		h.appendOps(state.Op{Kind: state.OpMsgRouted, MsgID: slot.id})
	}
}

// OnPacketProcessed ends per-packet windows. A publish whose fan-out did not
// happen (its ack could not be written) is dropped from the store: the
// client was not told it was accepted and will send it again.
func (h *persistHook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.current(cl)
	switch pk.FixedHeader.Type {
	case packets.Publish:
		if slot := h.slots[cl.ID]; slot != nil && pk.FixedHeader.Qos > 0 {
			delete(h.slots, cl.ID)
			h.appendOps(state.Op{Kind: state.OpMsgRouted, MsgID: slot.id})
		}
	case packets.Subscribe:
		if s != nil {
			s.inRetained = false
		}
	}
	if s != nil && len(s.stash) > 0 {
		h.unstashLocked(s)
	}
}

func (h *persistHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	if r == 1 {
		h.appendOps(state.Op{Kind: state.OpRetainedPut, Msg: messageFromPacket(0, &pk)})
		return
	}
	h.appendOps(state.Op{Kind: state.OpRetainedDelete, Topic: pk.TopicName})
}

func (h *persistHook) OnRetainedExpired(filter string) {
	h.appendOps(state.Op{Kind: state.OpRetainedDelete, Topic: filter})
}

// OnQosPublish fires when mochi assigns an outbound packet id to a QoS 1/2
// message for a client, connected or not, and on resends.
func (h *persistHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, resends int) {
	if pk.FixedHeader.Type != packets.Publish {
		return // an inbound ack mochi keeps in the same map
	}
	h.mu.Lock()
	s := h.current(cl)
	if s == nil {
		h.mu.Unlock()
		if !pk.FixedHeader.Dup {
			h.adoptStray(cl, pk) // a fan-out that reached a taken-over client (hook_takeover.go)
		}
		return
	}
	defer h.mu.Unlock()
	if s.persistent {
		h.recordDelivery(s, cl, &pk, pk.FixedHeader.Dup)
	}
}

// recordDelivery records pk, in cl's in-flight map, as a delivery of s
// unless it is a resend of one already recorded. mu must be held.
func (h *persistHook) recordDelivery(s *session, cl *mqtt.Client, pk *packets.Packet, resend bool) {
	var ops []state.Op
	if prev, known := s.pids[pk.PacketID]; known {
		if resend {
			return
		}
		// mochi gave out an id the session still maps to an earlier
		// delivery, so that one left the in-flight map unseen: it was
		// acknowledged on a connection being taken over, before mochi
		// copied the map (supersededAck records it too, later).
		delete(s.msgs, prev)
		ops = append(ops, state.Op{Kind: state.OpDeliveryDone, ClientID: cl.ID, MsgID: prev})
	}
	id, live := h.liveMessage(s, pk)
	if !live { // a retained message, a will, or an ambiguous case: store a copy
		id = h.msgSeq.Add(1)
		m := messageFromPacket(id, pk)
		m.Routed = true
		ops = append(ops, state.Op{Kind: state.OpMsgAccept, Msg: m})
	}
	d := &state.Delivery{ClientID: cl.ID, MsgID: id, PacketID: pk.PacketID,
		QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain,
		SubIDs: append([]int(nil), pk.Properties.SubscriptionIdentifier...)}
	ops = append(ops, state.Op{Kind: state.OpDeliveryPut, Delivery: d})
	if h.appendOps(ops...) {
		s.pids[pk.PacketID] = id
		s.msgs[id] = pk.PacketID
	}
}

// liveMessage finds the stored message a fan-out delivery belongs to. mu
// must be held.
func (h *persistHook) liveMessage(s *session, pk *packets.Packet) (uint64, bool) {
	slot := h.slots[pk.Origin]
	if slot == nil || (s.inRetained && pk.FixedHeader.Retain) {
		return 0, false
	}
	if slot.created != pk.Created || slot.topic != pk.TopicName || !bytes.Equal(slot.payload, pk.Payload) {
		return 0, false
	}
	if _, dup := s.msgs[slot.id]; dup {
		return 0, false
	}
	return slot.id, true
}

// OnPacketRead sees client packets before mochi processes them.
func (h *persistHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubcomp:
		if h.stashedAck(cl, pk) {
			return noop(pk), nil
		}
	case packets.Pubrec:
		if h.stashedAck(cl, pk) {
			return noop(pk), nil
		}
		h.pubrecReceived(cl, pk)
	case packets.Publish:
		if pk.FixedHeader.Qos == 2 {
			if prev, ok := cl.State.Inflight.Get(pk.PacketID); ok && prev.FixedHeader.Type == packets.Pubrec {
				return h.duplicateQos2(cl, pk)
			}
		}
	}
	h.stashCollision(cl, pk)
	return pk, nil
}

// pubrecReceived records that a QoS 2 delivery moved past PUBREC, before
// mochi sends the PUBREL: after a restart the PUBREL is resent, not the
// message (which the client would then deliver twice).
func (h *persistHook) pubrecReceived(cl *mqtt.Client, pk packets.Packet) {
	if pk.ReasonCode >= packets.ErrUnspecifiedError.Code {
		return // a refusal: OnQosDropped follows
	}
	h.mu.Lock()
	s := h.current(cl)
	if s == nil {
		superseded := h.sessions[cl.ID] != nil
		h.mu.Unlock()
		if superseded {
			h.supersededAck(cl, pk.PacketID)
		}
		return
	}
	defer h.mu.Unlock()
	if !s.persistent {
		return
	}
	if id, ok := s.pids[pk.PacketID]; ok {
		h.appendOps(state.Op{Kind: state.OpDeliveryPut, Delivery: &state.Delivery{
			ClientID: cl.ID, MsgID: id, PacketID: pk.PacketID, QoS: 2, State: state.DeliveryPubrel}})
	}
}

// duplicateQos2 answers a retransmitted QoS 2 PUBLISH whose PUBREC was
// already sent with a successful PUBREC, and does not deliver it again
// [MQTT-4.3.3-10]. mochi would answer 0x91 (packet identifier in use), which
// a 5.0 client takes as a failure. The packet handed back to mochi is a
// no-op (a PUBACK for packet id 0, which nothing uses).
func (h *persistHook) duplicateQos2(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Pubrec},
		PacketID:    pk.PacketID,
		ReasonCode:  packets.CodeSuccess.Code,
	}
	if err := cl.WritePacket(ack); err != nil {
		return pk, err
	}
	h.m.duplicatesQos2.Inc()
	return noop(pk), nil
}

// OnQosComplete fires for finished QoS flows in both directions.
func (h *persistHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	switch pk.FixedHeader.Type {
	case packets.Pubrel: // inbound QoS 2 finished
		h.inboundDone(cl, pk.PacketID)
	case packets.Puback:
		if pk.Created != 0 {
			return // mochi's own PUBACK of an inbound QoS 1 message, built by buildAck
		}
		h.deliveryAcked(cl, pk.PacketID)
	case packets.Pubcomp:
		if pk.Created != 0 {
			return // mochi's own PUBCOMP of an inbound QoS 2 message
		}
		h.deliveryAcked(cl, pk.PacketID)
	}
}

// deliveryAcked records a client's PUBACK or PUBCOMP for pid.
func (h *persistHook) deliveryAcked(cl *mqtt.Client, pid uint16) {
	if !h.deliveryDone(cl, pid) && h.superseded(cl) {
		h.supersededAck(cl, pid)
	}
}

// superseded reports whether a newer connection holds cl's client id.
func (h *persistHook) superseded(cl *mqtt.Client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[cl.ID]
	return s != nil && s.cl != cl
}

// OnQosDropped fires when mochi gives up an in-flight entry: expired,
// refused by the client, or cleared with its session.
func (h *persistHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Type == packets.Pubrec {
		h.inboundDone(cl, pk.PacketID)
		return
	}
	h.dropDelivery(cl, pk.PacketID, "inflight")
}

// dropDelivery records that the message under pid will not be delivered
// to cl's session, and counts it under reason.
func (h *persistHook) dropDelivery(cl *mqtt.Client, pid uint16, reason string) {
	if h.deliveryDone(cl, pid) {
		h.m.messagesDropped.WithLabelValues(reason).Inc()
	}
}

// OnPacketSent counts delivered messages, and ends a session takeover
// with its CONNACK (hook_takeover.go).
func (h *persistHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, b []byte) {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		h.m.messagesOut.WithLabelValues(qosLabel(pk.FixedHeader.Qos)).Inc()
	case packets.Connack:
		h.mu.Lock()
		if s := h.current(cl); s != nil {
			s.markConnacked()
		}
		h.mu.Unlock()
	}
}

func (h *persistHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	h.m.messagesDropped.WithLabelValues("client_queue_full").Inc()
	h.log.Warn("client write queue full: message dropped", "client", cl.ID, "topic", pk.TopicName)
}

func (h *persistHook) inboundDone(cl *mqtt.Client, pid uint16) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.current(cl); s != nil && s.persistent {
		h.appendOps(state.Op{Kind: state.OpInboundDelete, ClientID: cl.ID, PacketID: pid})
	}
}

// deliveryDone records that a session finished with the message under pid
// (superseded connections are ignored: mochi drops the in-flight entries of
// a taken-over connection after copying them to the new one).
func (h *persistHook) deliveryDone(cl *mqtt.Client, pid uint16) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.current(cl)
	if s == nil || !s.persistent {
		return false
	}
	id, ok := s.pids[pid]
	if !ok {
		return false
	}
	delete(s.pids, pid)
	delete(s.msgs, id)
	return h.appendOps(state.Op{Kind: state.OpDeliveryDone, ClientID: cl.ID, MsgID: id})
}

func qosLabel(q byte) string {
	switch q {
	case 0:
		return "0"
	case 1:
		return "1"
	}
	return "2"
}
