package broker

import (
	"bytes"
	"slices"
	"sync/atomic"
	"time"
	"weak"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/sync/state"
)

// A session taken over by a new connection (a client reconnecting, or
// connecting to a promoted leader that restored its session offline) is
// handed from the old client object to the new one by mochi:
// OnSessionEstablish, then one copy of the old in-flight map, then the new
// client replaces the old one in the client list, then CONNACK and the
// resends. A fan-out that looked the client up before the replacement
// delivers to the old object: the message goes into the old in-flight
// map, possibly after the copy, and reaches OnQosPublish for a client that
// is no longer current. Left there it is lost — never sent, never
// recorded, while its publisher was told it was accepted.
//
// Such a "stray" delivery is adopted by the session once the new client
// holds it: the message is put in the new client's in-flight map unless
// the copy already carried it, recorded like any delivery, and written to
// the client if its CONNACK is out (mochi's resends may send it too: a
// duplicate with the same packet id, which MQTT allows). The wait is for
// the CONNACK, normally microseconds; a handover whose CONNACK cannot be
// written is recognised in the client list after takeoverWait.

const (
	takeoverWait   = 2 * time.Second  // wait for the CONNACK before looking at the client list
	takeoverGiveUp = 30 * time.Second // bound on waiting for a handover at all
	maxAncestors   = 1024             // bound on the old clients a session remembers (a reconnect storm)
)

// closedChan is the connacked channel of sessions not being taken over.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// ancestor is a client a session was inherited from, and when. A stray
// delivery reaches an ancestor only while a fan-out that looked it up
// before its successor was registered is still running, so ancestors are
// forgotten after takeoverGiveUp.
type ancestor struct {
	cl    weak.Pointer[mqtt.Client]
	until time.Time
}

// inherit makes s the continuation of old (same session, new connection).
func (s *session) inherit(old *session, now time.Time) {
	s.pids, s.msgs = old.pids, old.msgs
	keep := slices.DeleteFunc(slices.Clone(old.ancestors), func(a ancestor) bool { return now.After(a.until) })
	s.ancestors = append(keep[max(0, len(keep)-maxAncestors+1):], ancestor{weak.Make(old.cl), now.Add(takeoverGiveUp)})
	s.connacked = make(chan struct{})
}

// continues reports whether s is a continuation of the session cl held.
func (s *session) continues(cl *mqtt.Client) bool {
	w := weak.Make(cl)
	return slices.ContainsFunc(s.ancestors, func(a ancestor) bool { return a.cl == w })
}

// markConnacked ends s's takeover (or wakes those waiting for it when s is
// superseded or its connection ends). mu must be held.
func (s *session) markConnacked() {
	if !isClosed(s.connacked) {
		close(s.connacked)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// handedOver reports whether mochi's client list has s's client, i.e. the
// session's in-flight map has been handed to it.
func (h *persistHook) handedOver(s *session) bool {
	c, ok := h.srv.Clients.Get(s.cl.ID)
	return ok && c == s.cl
}

// successor waits until the session old held has been handed to a new
// client and returns it with mu held, and whether that client's CONNACK
// is out. It returns nil (mu not held) if the session ended with old, or
// if no handover completed within takeoverGiveUp.
func (h *persistHook) successor(old *mqtt.Client) (*session, bool) {
	start := time.Now()
	for {
		h.mu.Lock()
		s := h.sessions[old.ID]
		if s == nil || !s.continues(old) {
			h.mu.Unlock()
			return nil, false // the session ended (clean start, expiry)
		}
		acked := isClosed(s.connacked)
		if acked || (time.Since(start) > takeoverWait && h.handedOver(s)) {
			return s, acked
		}
		wait := s.connacked
		h.mu.Unlock()
		if time.Since(start) > takeoverGiveUp {
			h.log.Error("session takeover never completed", "client", old.ID, "waited", takeoverGiveUp)
			return nil, false
		}
		select {
		case <-wait:
		case <-time.After(50 * time.Millisecond): // re-check the client list
		}
	}
}

// adoptStray hands a delivery mochi made to old, a client that no longer
// owns its session, to the client that does.
func (h *persistHook) adoptStray(old *mqtt.Client, pk packets.Packet) {
	s, acked := h.successor(old)
	if s == nil {
		if h.sessionContinues(old) {
			h.m.messagesDropped.WithLabelValues("takeover").Inc()
		}
		return
	}
	out, write := h.adoptLocked(s, old, pk)
	h.mu.Unlock()
	if write && acked {
		if err := s.cl.WritePacket(out); err != nil {
			h.log.Debug("send adopted delivery; it is resent on reconnect", "client", old.ID, "error", err)
		}
	}
}

// sessionContinues reports whether a session continues the one old held.
func (h *persistHook) sessionContinues(old *mqtt.Client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[old.ID]
	return s != nil && s.continues(old)
}

// supersededAck reconciles the session with an acknowledgement (PUBREC,
// PUBACK or PUBCOMP for pid) that mochi applied to old, a connection whose
// session a new one is taking over. If the ack was applied before mochi
// copied the in-flight map, the new client no longer has the delivery and
// the session must record the step; if after, the new client still has the
// delivery as it was and resends it, and nothing is recorded.
func (h *persistHook) supersededAck(old *mqtt.Client, pid uint16) {
	s, _ := h.successor(old)
	if s == nil {
		return
	}
	defer h.mu.Unlock()
	id, known := s.pids[pid]
	if !known || !s.persistent {
		return
	}
	cur, ok := s.cl.State.Inflight.Get(pid)
	if !ok {
		cur, ok = s.stash[pid] // moved aside for a moment (hook_pid.go)
	}
	switch {
	case !ok:
		delete(s.pids, pid)
		delete(s.msgs, id)
		h.appendOps(state.Op{Kind: state.OpDeliveryDone, ClientID: s.cl.ID, MsgID: id})
	case cur.FixedHeader.Type == packets.Pubrel:
		h.appendOps(state.Op{Kind: state.OpDeliveryPut, Delivery: &state.Delivery{
			ClientID: s.cl.ID, MsgID: id, PacketID: pid, QoS: 2, State: state.DeliveryPubrel}})
	}
}

// adoptLocked puts pk, delivered to old, in s's client; it returns the
// packet to write and whether the caller must write it (mochi's resend
// already did if the session copy carried it). mu must be held.
func (h *persistHook) adoptLocked(s *session, old *mqtt.Client, pk packets.Packet) (packets.Packet, bool) {
	if cur, ok := old.State.Inflight.Get(pk.PacketID); ok && samePublish(cur, pk) && old.State.Inflight.Delete(pk.PacketID) {
		atomic.AddInt64(&h.srv.Info.Inflight, -1) // left behind after the copy was cleared
	}
	cl := s.cl
	if cur, ok := cl.State.Inflight.Get(pk.PacketID); ok && samePublish(cur, pk) {
		if s.persistent {
			h.recordDelivery(s, cl, &cur, true)
		}
		return cur, false
	}
	pid, err := cl.NextPacketID()
	if err != nil {
		h.log.Error("no free packet id for a delivery made during a takeover", "client", cl.ID, "topic", pk.TopicName, "error", err)
		h.m.messagesDropped.WithLabelValues("takeover").Inc()
		return pk, false
	}
	out := pk
	out.PacketID = uint16(pid)
	if cl.State.Inflight.Set(out) {
		atomic.AddInt64(&h.srv.Info.Inflight, 1)
	}
	if s.persistent {
		h.recordDelivery(s, cl, &out, false)
	}
	h.m.takeoverAdopted.Inc()
	return out, true
}

// samePublish reports whether two in-flight PUBLISH packets carry the same
// message to the same session.
func samePublish(a, b packets.Packet) bool {
	return a.FixedHeader.Type == packets.Publish && orderOf(a) == orderOf(b) && // renumber changes the rest of Created
		a.TopicName == b.TopicName && bytes.Equal(a.Payload, b.Payload)
}
