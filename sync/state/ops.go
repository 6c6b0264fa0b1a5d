package state

import "fmt"

// OpKind names one kind of state change.
type OpKind uint8

// The state changes. Each is applied by Apply in order; see apply.go.
const (
	OpInvalid        OpKind = iota
	OpSessionPut            // Session: create or replace a persistent session
	OpSessionDelete         // ClientID: drop the session, its subscriptions, deliveries and inbound state
	OpSubPut                // Sub: add or replace a subscription
	OpSubDelete             // ClientID, Filter
	OpMsgAccept             // Msg: a QoS 1/2 message accepted from a publisher (or a self-contained copy)
	OpMsgRouted             // MsgID: fan-out recorded; completed deliveries of it are forgotten
	OpDeliveryPut           // Delivery: create or update a delivery
	OpDeliveryDone          // ClientID, MsgID: the session is done with the message (acked, dropped or expired)
	OpInboundPut            // Inbound
	OpInboundDelete         // ClientID, PacketID
	OpRetainedPut           // Msg: set the retained message of Msg.Topic
	OpRetainedDelete        // Topic
	OpDynsecPut             // Dynsec: the whole dynamic-security configuration (Mosquitto's file format)
)

var opNames = [...]string{
	OpInvalid:        "invalid",
	OpSessionPut:     "session_put",
	OpSessionDelete:  "session_delete",
	OpSubPut:         "sub_put",
	OpSubDelete:      "sub_delete",
	OpMsgAccept:      "msg_accept",
	OpMsgRouted:      "msg_routed",
	OpDeliveryPut:    "delivery_put",
	OpDeliveryDone:   "delivery_done",
	OpInboundPut:     "inbound_put",
	OpInboundDelete:  "inbound_delete",
	OpRetainedPut:    "retained_put",
	OpRetainedDelete: "retained_delete",
	OpDynsecPut:      "dynsec_put",
}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one state change. Which fields are set depends on Kind (see the
// constants). Ops are the unit the replication log will carry.
type Op struct {
	Kind     OpKind        `json:"k"`
	ClientID string        `json:"id,omitempty"`
	Filter   string        `json:"f,omitempty"`
	Topic    string        `json:"t,omitempty"`
	MsgID    uint64        `json:"m,omitempty"`
	PacketID uint16        `json:"pid,omitempty"`
	Session  *Session      `json:"s,omitempty"`
	Sub      *Subscription `json:"sub,omitempty"`
	Msg      *Message      `json:"msg,omitempty"`
	Delivery *Delivery     `json:"d,omitempty"`
	Inbound  *Inbound      `json:"in,omitempty"`
	Dynsec   []byte        `json:"ds,omitempty"`
	// Kicks, with OpDynsecPut in cluster.mode dynsec, says whose
	// connections the change closes on every node. It travels with the
	// entry and is not stored.
	Kicks *DynsecKicks `json:"dk,omitempty"`
}

// DynsecKicks says whose connections a dynamic-security change closes:
// every client with one of Usernames, every anonymous client if
// Anonymous, except the client SpareClient connected to node SpareNode
// (the requester of an importConfig, which must read the answer).
type DynsecKicks struct {
	Usernames   []string `json:"u,omitempty"`
	Anonymous   bool     `json:"a,omitempty"`
	SpareNode   string   `json:"sn,omitempty"`
	SpareClient string   `json:"sc,omitempty"`
}

// Validate reports an op that is missing what its kind needs. Apply refuses
// invalid ops rather than writing half a change.
func (o *Op) Validate() error {
	ok := true
	switch o.Kind {
	case OpSessionPut:
		ok = o.Session != nil && o.Session.ClientID != ""
	case OpSessionDelete:
		ok = o.ClientID != ""
	case OpSubPut:
		ok = o.Sub != nil && o.Sub.ClientID != "" && o.Sub.Filter != ""
	case OpSubDelete:
		ok = o.ClientID != "" && o.Filter != ""
	case OpMsgAccept:
		ok = o.Msg != nil && o.Msg.ID != 0
	case OpMsgRouted:
		ok = o.MsgID != 0
	case OpDeliveryPut:
		ok = o.Delivery != nil && o.Delivery.ClientID != "" && o.Delivery.MsgID != 0
	case OpDeliveryDone:
		ok = o.ClientID != "" && o.MsgID != 0
	case OpInboundPut:
		ok = o.Inbound != nil && o.Inbound.ClientID != ""
	case OpInboundDelete:
		ok = o.ClientID != ""
	case OpRetainedPut:
		ok = o.Msg != nil && o.Msg.Topic != ""
	case OpRetainedDelete:
		ok = o.Topic != ""
	case OpDynsecPut:
		ok = len(o.Dynsec) > 0
	default:
		return fmt.Errorf("state: unknown op kind %d", uint8(o.Kind))
	}
	if !ok {
		return fmt.Errorf("state: incomplete %s op", o.Kind)
	}
	return nil
}
