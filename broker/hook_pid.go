package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/sync/state"
)

// Packet identifiers are per direction in MQTT, but mochi keeps a client's
// outbound deliveries and its inbound QoS exchanges in one map (mochi issue
// #545). A client that reuses an id the broker is using for a delivery
// would then lose that delivery (an inbound PUBLISH overwrites it) or be
// refused (SUBSCRIBE/UNSUBSCRIBE answered 0x91). The guard below moves the
// broker's entry aside ("stash") while the client's packet with the same id
// is processed and puts it back once the id is free again. Acks for a
// stashed delivery are handled here so mochi does not apply them to the
// client's entry. Stashes are touched on the client's read goroutine, and
// under mu.

func outboundEntry(pk packets.Packet) bool {
	return pk.FixedHeader.Type == packets.Publish || pk.FixedHeader.Type == packets.Pubrel
}

// stashCollision moves the broker's delivery under pk's id aside if pk is a
// client packet that opens an exchange with that id.
func (h *persistHook) stashCollision(cl *mqtt.Client, pk packets.Packet) {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		if pk.FixedHeader.Qos == 0 {
			return
		}
	case packets.Subscribe, packets.Unsubscribe:
	default:
		return
	}
	prev, ok := cl.State.Inflight.Get(pk.PacketID)
	if !ok || !outboundEntry(prev) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.current(cl)
	if s == nil {
		return
	}
	if s.stash == nil {
		s.stash = map[uint16]packets.Packet{}
	}
	cl.State.Inflight.Delete(pk.PacketID)
	s.stash[pk.PacketID] = prev
	h.m.pidCollisions.Inc()
}

// stashedAck handles a client's PUBACK, PUBREC or PUBCOMP for a stashed
// delivery. It reports whether it did; the packet must then not reach mochi.
func (h *persistHook) stashedAck(cl *mqtt.Client, pk packets.Packet) bool {
	h.mu.Lock()
	s := h.current(cl)
	if s == nil || s.stash == nil {
		h.mu.Unlock()
		return false
	}
	prev, ok := s.stash[pk.PacketID]
	if !ok {
		h.mu.Unlock()
		return false
	}
	switch {
	case pk.FixedHeader.Type == packets.Pubrec && prev.FixedHeader.Type == packets.Publish:
		rel := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1},
			PacketID: pk.PacketID, Created: prev.Created}
		s.stash[pk.PacketID] = rel
		if id, known := s.pids[pk.PacketID]; known && s.persistent {
			h.appendOps(state.Op{Kind: state.OpDeliveryPut, Delivery: &state.Delivery{
				ClientID: cl.ID, MsgID: id, PacketID: pk.PacketID, QoS: 2, State: state.DeliveryPubrel}})
		}
		h.mu.Unlock()
		if err := cl.WritePacket(rel); err != nil {
			h.log.Debug("send PUBREL", "client", cl.ID, "error", err)
		}
		return true
	case pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubcomp:
		delete(s.stash, pk.PacketID)
		h.mu.Unlock()
		h.deliveryDone(cl, pk.PacketID)
		return true
	}
	h.mu.Unlock()
	return false
}

// unstash puts stashed deliveries back where their ids are free again.
func (h *persistHook) unstash(cl *mqtt.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.current(cl); s != nil {
		h.unstashLocked(s)
	}
}

// unstashLocked: mu must be held.
func (h *persistHook) unstashLocked(s *session) {
	for pid, pk := range s.stash {
		if _, taken := s.cl.State.Inflight.Get(pid); !taken {
			s.cl.State.Inflight.Set(pk)
			delete(s.stash, pid)
		}
	}
}

// noop is handed to mochi in place of a packet already dealt with: a PUBACK
// for packet id 0, which no exchange uses, so mochi does nothing with it.
func noop(pk packets.Packet) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: pk.ProtocolVersion}
}
