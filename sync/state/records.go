// Package state is Triad's durable broker state: typed records (sessions,
// subscriptions, accepted messages, per-session deliveries, inbound QoS 2
// state, retained messages) kept in bbolt, changed only through Apply with a
// monotonically increasing applied index.
//
// The records know nothing of the MQTT wire format; broker/ converts between
// them and mochi's packets. The same Apply path is the one the replication log
// (issue: replication) feeds on followers, so a follower's state is always a
// prefix of the leader's.
package state

// UserProperty is an MQTT v5 user property.
type UserProperty struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// Will is a session's last will, kept with the session.
type Will struct {
	Topic         string         `json:"t"`
	Payload       []byte         `json:"p,omitempty"`
	QoS           byte           `json:"q,omitempty"`
	Retain        bool           `json:"r,omitempty"`
	DelayInterval uint32         `json:"d,omitempty"`
	User          []UserProperty `json:"u,omitempty"`
}

// Session is a persistent MQTT session (clean session false in 3.1.1, session
// expiry above zero in 5.0). Non-persistent sessions are never stored.
type Session struct {
	ClientID          string         `json:"id"`
	Username          []byte         `json:"un,omitempty"`
	Listener          string         `json:"l,omitempty"`
	ProtocolVersion   byte           `json:"pv"`
	Clean             bool           `json:"c,omitempty"`
	ExpiryInterval    uint32         `json:"e,omitempty"` // seconds; v5 only
	ExpiryFlag        bool           `json:"ef,omitempty"`
	ReceiveMaximum    uint16         `json:"rm,omitempty"`
	TopicAliasMaximum uint16         `json:"tam,omitempty"`
	MaximumPacketSize uint32         `json:"mps,omitempty"`
	User              []UserProperty `json:"u,omitempty"`
	Will              *Will          `json:"w,omitempty"`
	ConnectedAt       int64          `json:"ca,omitempty"` // unix seconds
	DisconnectedAt    int64          `json:"da,omitempty"` // unix seconds; 0 while connected
}

// Subscription is one topic filter of a persistent session.
type Subscription struct {
	ClientID          string `json:"id"`
	Filter            string `json:"f"`
	QoS               byte   `json:"q,omitempty"`
	NoLocal           bool   `json:"nl,omitempty"`
	RetainAsPublished bool   `json:"rap,omitempty"`
	RetainHandling    byte   `json:"rh,omitempty"`
	Identifier        int    `json:"si,omitempty"`
}

// MessageProps are the MQTT v5 publish properties a message carries to its
// subscribers.
type MessageProps struct {
	PayloadFormat     byte           `json:"pf,omitempty"`
	PayloadFormatFlag bool           `json:"pff,omitempty"`
	ExpiryInterval    uint32         `json:"me,omitempty"`
	ContentType       string         `json:"ct,omitempty"`
	ResponseTopic     string         `json:"rt,omitempty"`
	CorrelationData   []byte         `json:"cd,omitempty"`
	User              []UserProperty `json:"u,omitempty"`
}

// Message is a QoS 1/2 message the broker accepted (or a retained message).
// A message is Routed once its fan-out to subscribers has been recorded; an
// unrouted message is fanned out again when the state is loaded.
type Message struct {
	ID              uint64       `json:"id,omitempty"`
	Topic           string       `json:"t"`
	Payload         []byte       `json:"p,omitempty"`
	QoS             byte         `json:"q,omitempty"`
	Retain          bool         `json:"r,omitempty"`
	Origin          string       `json:"o,omitempty"`
	ProtocolVersion byte         `json:"pv,omitempty"`
	Created         int64        `json:"c,omitempty"` // unix seconds
	Expiry          int64        `json:"x,omitempty"` // unix seconds; 0 = never
	Props           MessageProps `json:"pr"`
	Routed          bool         `json:"rd,omitempty"`
}

// DeliveryState is where one message stands in one session.
type DeliveryState uint8

// Delivery states, in the order a QoS 2 delivery passes through them.
const (
	DeliveryPublish DeliveryState = iota // PUBLISH queued or sent, awaiting PUBACK/PUBREC
	DeliveryPubrel                       // PUBREC received, PUBREL sent, awaiting PUBCOMP
	DeliveryDone                         // completed before its message was routed
)

func (s DeliveryState) String() string {
	switch s {
	case DeliveryPublish:
		return "publish"
	case DeliveryPubrel:
		return "pubrel"
	case DeliveryDone:
		return "done"
	}
	return "unknown"
}

// Delivery is one message on its way to one persistent session, under the
// packet identifier the broker chose for it.
type Delivery struct {
	ClientID string        `json:"id"`
	MsgID    uint64        `json:"m"`
	PacketID uint16        `json:"pid"`
	QoS      byte          `json:"q"`
	Retain   bool          `json:"r,omitempty"`
	SubIDs   []int         `json:"si,omitempty"`
	State    DeliveryState `json:"s,omitempty"`
}

// Inbound is a QoS 2 message received from a persistent session whose
// PUBREC was sent and whose PUBREL has not arrived yet.
type Inbound struct {
	ClientID string `json:"id"`
	PacketID uint16 `json:"pid"`
	Created  int64  `json:"c,omitempty"`
}
