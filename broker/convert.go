package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/sync/state"
)

// Conversions between mochi's packets and the stored records.

func userProps(in []packets.UserProperty) []state.UserProperty {
	if len(in) == 0 {
		return nil
	}
	out := make([]state.UserProperty, len(in))
	for i, u := range in {
		out[i] = state.UserProperty{Key: u.Key, Value: u.Val}
	}
	return out
}

func packetUserProps(in []state.UserProperty) []packets.UserProperty {
	if len(in) == 0 {
		return nil
	}
	out := make([]packets.UserProperty, len(in))
	for i, u := range in {
		out[i] = packets.UserProperty{Key: u.Key, Val: u.Value}
	}
	return out
}

// messageFromPacket records a PUBLISH as a message. The payload is copied.
func messageFromPacket(id uint64, pk *packets.Packet) *state.Message {
	return &state.Message{
		ID:              id,
		Topic:           pk.TopicName,
		Payload:         append([]byte(nil), pk.Payload...),
		QoS:             pk.FixedHeader.Qos,
		Retain:          pk.FixedHeader.Retain,
		Origin:          pk.Origin,
		ProtocolVersion: pk.ProtocolVersion,
		Created:         pk.Created,
		Expiry:          pk.Expiry,
		Props: state.MessageProps{
			PayloadFormat:     pk.Properties.PayloadFormat,
			PayloadFormatFlag: pk.Properties.PayloadFormatFlag,
			ExpiryInterval:    pk.Properties.MessageExpiryInterval,
			ContentType:       pk.Properties.ContentType,
			ResponseTopic:     pk.Properties.ResponseTopic,
			CorrelationData:   append([]byte(nil), pk.Properties.CorrelationData...),
			User:              userProps(pk.Properties.User),
		},
	}
}

// packetFromMessage rebuilds a PUBLISH from a stored message.
func packetFromMessage(m *state.Message) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{
			Type:   packets.Publish,
			Qos:    m.QoS,
			Retain: m.Retain,
		},
		TopicName:       m.Topic,
		Payload:         m.Payload,
		Origin:          m.Origin,
		ProtocolVersion: m.ProtocolVersion,
		Created:         m.Created,
		Expiry:          m.Expiry,
		Properties: packets.Properties{
			PayloadFormat:         m.Props.PayloadFormat,
			PayloadFormatFlag:     m.Props.PayloadFormatFlag,
			MessageExpiryInterval: m.Props.ExpiryInterval,
			ContentType:           m.Props.ContentType,
			ResponseTopic:         m.Props.ResponseTopic,
			CorrelationData:       m.Props.CorrelationData,
			User:                  packetUserProps(m.Props.User),
		},
	}
}

// deliveryPacket rebuilds the in-flight packet of a delivery: the PUBLISH
// (sent again with DUP on reconnect) or, past PUBREC, the PUBREL.
func deliveryPacket(m *state.Message, d *state.Delivery, version byte) packets.Packet {
	if d.State == state.DeliveryPubrel {
		return packets.Packet{
			FixedHeader:     packets.FixedHeader{Type: packets.Pubrel, Qos: 1},
			PacketID:        d.PacketID,
			ProtocolVersion: version,
			Created:         orderKey(d.MsgID),
		}
	}
	pk := packetFromMessage(m)
	pk.Created = orderKey(d.MsgID)
	pk.FixedHeader.Qos = d.QoS
	pk.FixedHeader.Retain = d.Retain
	pk.PacketID = d.PacketID
	pk.ProtocolVersion = version
	if len(d.SubIDs) > 0 {
		pk.Properties.SubscriptionIdentifier = append([]int(nil), d.SubIDs...)
	}
	return pk
}

// sessionFromClient records a connected client's session.
func sessionFromClient(cl *mqtt.Client, now int64) *state.Session {
	p := &cl.Properties
	s := &state.Session{
		ClientID:          cl.ID,
		Username:          append([]byte(nil), p.Username...),
		Listener:          cl.Net.Listener,
		ProtocolVersion:   p.ProtocolVersion,
		Clean:             p.Clean,
		ExpiryInterval:    p.Props.SessionExpiryInterval,
		ExpiryFlag:        p.Props.SessionExpiryIntervalFlag,
		ReceiveMaximum:    p.Props.ReceiveMaximum,
		TopicAliasMaximum: p.Props.TopicAliasMaximum,
		MaximumPacketSize: p.Props.MaximumPacketSize,
		User:              userProps(p.Props.User),
		ConnectedAt:       now,
	}
	if p.Will.Flag != 0 {
		s.Will = &state.Will{
			Topic:         p.Will.TopicName,
			Payload:       append([]byte(nil), p.Will.Payload...),
			QoS:           p.Will.Qos,
			Retain:        p.Will.Retain,
			DelayInterval: p.Will.WillDelayInterval,
			User:          userProps(p.Will.User),
		}
	}
	return s
}

func subscriptionRecord(clientID string, sub packets.Subscription, granted byte) *state.Subscription {
	return &state.Subscription{
		ClientID:          clientID,
		Filter:            sub.Filter,
		QoS:               granted,
		NoLocal:           sub.NoLocal,
		RetainAsPublished: sub.RetainAsPublished,
		RetainHandling:    sub.RetainHandling,
		Identifier:        sub.Identifier,
	}
}

func packetSubscription(s *state.Subscription) packets.Subscription {
	return packets.Subscription{
		Filter:            s.Filter,
		Qos:               s.QoS,
		NoLocal:           s.NoLocal,
		RetainAsPublished: s.RetainAsPublished,
		RetainHandling:    s.RetainHandling,
		Identifier:        s.Identifier,
	}
}

// persistent reports whether a client's session outlives its connection:
// clean session false in 3.1.1, a session expiry interval in 5.0.
func persistent(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}
