package broker

import (
	"bytes"

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
	return bytes.Contains([]byte{mqtt.OnPacketEncode}, []byte{b})
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
