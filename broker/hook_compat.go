package broker

import (
	"bytes"
	"math"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// compatHook corrects what mochi writes where it departs from the protocol
// a client speaks.
type compatHook struct {
	mqtt.HookBase
}

func (h *compatHook) ID() string { return "triad-compat" }

func (h *compatHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPacketEncode, mqtt.OnSessionEstablished}, []byte{b})
}

// OnSessionEstablished lifts the inbound Receive Maximum for MQTT 3.1 and
// 3.1.1 clients. The limit is an MQTT 5 negotiation: a 3.1.1 client is
// never told it and may have any number of QoS 1/2 messages unacknowledged,
// yet mochi applies it to every client and disconnects one that exceeds it
// (seen with paho publishing 2000 QoS 1 messages asynchronously). Their
// inbound state stays bounded by the 65535 packet ids. It runs after mochi
// has inherited a session, which re-arms the quota.
func (h *compatHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Properties.ProtocolVersion < 5 {
		cl.State.Inflight.ResetReceiveQuota(math.MaxInt32)
	}
}

// OnPacketEncode answers a CONNECT with an unsupported protocol level with
// the 3.1.1 CONNACK return code 0x01 [MQTT-3.1.2-2]. mochi sends 0x82, an
// MQTT 5 reason code, in the 3.1.1 packet layout (the client's level is
// unknown, so mochi encodes without properties), which no 3.x client
// understands. mochi uses 0x82 for every CONNECT protocol violation; for a
// client that is not MQTT 5 the refusal 0x01 is the closest 3.1.1 code.
func (h *compatHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ProtocolVersion != 5 &&
		pk.ReasonCode == packets.ErrProtocolViolationProtocolVersion.Code {
		pk.ReasonCode = packets.Err3UnsupportedProtocolVersion.Code
	}
	return pk
}
