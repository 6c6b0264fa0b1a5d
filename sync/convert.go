package sync

import (
	"errors"
	"fmt"
	"math"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// Conversions between the state records (sync/state) and the replication
// wire format (sync/pb).
//
// The wire is wider than the records: every small integer travels as a
// uint32 and identifiers as int64. A frame from a buggy or hostile peer must
// be refused, never truncated into a different op, so every narrowing is
// range-checked and fails with the field's wire name and value. OpToPB
// refuses what OpFromPB would refuse, so a leader never ships an op its
// followers cannot take.
//
// Byte slices (payloads, usernames, correlation data) are shared between
// the input and the result, not copied; neither side may be modified after
// conversion.

var (
	// ErrMalformed marks an op or entry that is invalid: unknown kind,
	// missing record, value out of range. Retrying cannot help.
	ErrMalformed = errors.New("sync: malformed")
	// ErrUnsupported marks a well-formed op that this version cannot apply
	// (one a newer leader may send).
	ErrUnsupported = errors.New("sync: unsupported")
)

// maxSubscriptionID is the largest MQTT v5 subscription identifier, a
// variable byte integer [MQTT-3.8.2.1.2]. Zero means none.
const maxSubscriptionID = 268_435_455

// opKinds pairs every state op kind with its wire kind.
var opKinds = [...]struct {
	s state.OpKind
	p pb.OpKind
}{
	{state.OpSessionPut, pb.OpKind_OP_KIND_SESSION_PUT},
	{state.OpSessionDelete, pb.OpKind_OP_KIND_SESSION_DELETE},
	{state.OpSubPut, pb.OpKind_OP_KIND_SUB_PUT},
	{state.OpSubDelete, pb.OpKind_OP_KIND_SUB_DELETE},
	{state.OpMsgAccept, pb.OpKind_OP_KIND_MSG_ACCEPT},
	{state.OpMsgRouted, pb.OpKind_OP_KIND_MSG_ROUTED},
	{state.OpDeliveryPut, pb.OpKind_OP_KIND_DELIVERY_PUT},
	{state.OpDeliveryDone, pb.OpKind_OP_KIND_DELIVERY_DONE},
	{state.OpInboundPut, pb.OpKind_OP_KIND_INBOUND_PUT},
	{state.OpInboundDelete, pb.OpKind_OP_KIND_INBOUND_DELETE},
	{state.OpRetainedPut, pb.OpKind_OP_KIND_RETAINED_PUT},
	{state.OpRetainedDelete, pb.OpKind_OP_KIND_RETAINED_DELETE},
	{state.OpDynsecPut, pb.OpKind_OP_KIND_DYNSEC},
}

// deliveryStates pairs every delivery state with its wire value.
var deliveryStates = [...]struct {
	s state.DeliveryState
	p pb.DeliveryState
}{
	{state.DeliveryPublish, pb.DeliveryState_DELIVERY_STATE_PUBLISH},
	{state.DeliveryPubrel, pb.DeliveryState_DELIVERY_STATE_PUBREL},
	{state.DeliveryDone, pb.DeliveryState_DELIVERY_STATE_DONE},
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// EntryToPB converts the ops of the entry at idx, written by the leader of
// epoch, to the wire.
func EntryToPB(idx uint64, epoch int64, ops []state.Op) (*pb.Entry, error) {
	if idx == 0 {
		return nil, malformed("entry index 0")
	}
	e := &pb.Entry{Index: idx, Epoch: epoch, Ops: make([]*pb.Op, len(ops))}
	for i := range ops {
		p, err := OpToPB(&ops[i])
		if err != nil {
			return nil, fmt.Errorf("entry %d op %d: %w", idx, i, err)
		}
		e.Ops[i] = p
	}
	return e, nil
}

// EntryFromPB converts an entry from the wire, epoch included.
func EntryFromPB(p *pb.Entry) (state.Entry, error) {
	if p == nil {
		return state.Entry{}, malformed("nil entry")
	}
	if p.Index == 0 {
		return state.Entry{}, malformed("entry index 0")
	}
	e := state.Entry{Index: p.Index, Epoch: p.Epoch, Ops: make([]state.Op, len(p.Ops))}
	for i, po := range p.Ops {
		o, err := OpFromPB(po)
		if err != nil {
			return state.Entry{}, fmt.Errorf("entry %d op %d: %w", p.Index, i, err)
		}
		e.Ops[i] = o
	}
	return e, nil
}

// OpToPB converts a state op to the wire. It refuses an op that fails
// Validate or holds a value OpFromPB would refuse.
func OpToPB(o *state.Op) (*pb.Op, error) {
	if o == nil {
		return nil, malformed("nil op")
	}
	kind, ok := kindToPB(o.Kind)
	if !ok {
		return nil, malformed("unknown op kind %d", uint8(o.Kind))
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var c checker
	p := &pb.Op{
		Kind:     kind,
		ClientId: o.ClientID,
		Filter:   o.Filter,
		Topic:    o.Topic,
		MsgId:    o.MsgID,
		PacketId: uint32(o.PacketID),
		Session:  sessionToPB(o.Session),
		Sub:      subToPB(&c, o.Sub),
		Msg:      messageToPB(o.Msg),
		Delivery: deliveryToPB(&c, o.Delivery),
		Inbound:  inboundToPB(o.Inbound),
		Dynsec:   o.Dynsec,
	}
	if k := o.Kicks; k != nil {
		p.DynsecKicks = &pb.DynsecKicks{Usernames: k.Usernames, Anonymous: k.Anonymous,
			SpareNode: k.SpareNode, SpareClient: k.SpareClient}
	}
	if c.err != nil {
		return nil, c.err
	}
	return p, nil
}

// OpFromPB converts an op from the wire and validates it; anything
// invalid fails with ErrMalformed.
func OpFromPB(p *pb.Op) (state.Op, error) {
	if p == nil {
		return state.Op{}, malformed("nil op")
	}
	kind, ok := kindFromPB(p.Kind)
	if !ok {
		return state.Op{}, malformed("unknown op kind %d", int32(p.Kind))
	}
	if (len(p.Dynsec) > 0 || p.DynsecKicks != nil) && kind != state.OpDynsecPut {
		return state.Op{}, malformed("dynsec payload on a %s op", kind)
	}
	var c checker
	o := state.Op{
		Kind:     kind,
		ClientID: p.ClientId,
		Filter:   p.Filter,
		Topic:    p.Topic,
		MsgID:    p.MsgId,
		PacketID: c.uint16("packet_id", p.PacketId),
		Session:  sessionFromPB(&c, p.Session),
		Sub:      subFromPB(&c, p.Sub),
		Msg:      messageFromPB(&c, p.Msg),
		Delivery: deliveryFromPB(&c, p.Delivery),
		Inbound:  inboundFromPB(&c, p.Inbound),
		Dynsec:   p.Dynsec,
	}
	if k := p.DynsecKicks; k != nil {
		o.Kicks = &state.DynsecKicks{Usernames: k.Usernames, Anonymous: k.Anonymous,
			SpareNode: k.SpareNode, SpareClient: k.SpareClient}
	}
	if c.err != nil {
		return state.Op{}, c.err
	}
	if err := o.Validate(); err != nil {
		return state.Op{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return o, nil
}

func kindToPB(k state.OpKind) (pb.OpKind, bool) {
	for _, m := range opKinds {
		if m.s == k {
			return m.p, true
		}
	}
	return 0, false
}

func kindFromPB(k pb.OpKind) (state.OpKind, bool) {
	for _, m := range opKinds {
		if m.p == k {
			return m.s, true
		}
	}
	return 0, false
}

// checker range-checks values while a record is converted and keeps the
// first failure, so that a conversion reads as one composite literal.
type checker struct {
	err error
}

func (c *checker) failf(format string, args ...any) {
	if c.err == nil {
		c.err = malformed(format, args...)
	}
}

func (c *checker) fail(field string, v, maxV int64) {
	c.failf("%s %d out of range 0..%d", field, v, maxV)
}

func (c *checker) byte(field string, v uint32) byte {
	if v > math.MaxUint8 {
		c.fail(field, int64(v), math.MaxUint8)
		return 0
	}
	return byte(v)
}

func (c *checker) uint16(field string, v uint32) uint16 {
	if v > math.MaxUint16 {
		c.fail(field, int64(v), math.MaxUint16)
		return 0
	}
	return uint16(v)
}

// subID checks a subscription identifier; the MQTT range also makes the
// conversion to int safe where int is 32 bits.
func (c *checker) subID(field string, v int64) int {
	if !validSubID(v) {
		c.fail(field, v, maxSubscriptionID)
		return 0
	}
	return int(v)
}

func validSubID(v int64) bool { return v >= 0 && v <= maxSubscriptionID }

// subIDsToPB and subIDsFromPB convert a delivery's subscription
// identifiers; the field name is only built for an error.
func (c *checker) subIDsToPB(in []int) []int64 {
	if len(in) == 0 {
		return nil
	}
	out := make([]int64, len(in))
	for i, id := range in {
		if !validSubID(int64(id)) {
			c.fail(fmt.Sprintf("delivery.sub_ids[%d]", i), int64(id), maxSubscriptionID)
		}
		out[i] = int64(id)
	}
	return out
}

func (c *checker) subIDsFromPB(in []int64) []int {
	if len(in) == 0 {
		return nil
	}
	out := make([]int, len(in))
	for i, id := range in {
		if !validSubID(id) {
			c.fail(fmt.Sprintf("delivery.sub_ids[%d]", i), id, maxSubscriptionID)
			return nil
		}
		out[i] = int(id)
	}
	return out
}

func (c *checker) deliveryStateToPB(s state.DeliveryState) pb.DeliveryState {
	for _, m := range deliveryStates {
		if m.s == s {
			return m.p
		}
	}
	c.fail("delivery.state", int64(s), int64(len(deliveryStates)-1))
	return 0
}

func (c *checker) deliveryStateFromPB(s pb.DeliveryState) state.DeliveryState {
	for _, m := range deliveryStates {
		if m.p == s {
			return m.s
		}
	}
	c.fail("delivery.state", int64(s), int64(len(deliveryStates)-1))
	return 0
}

// Records. Nil maps to nil both ways: Validate decides whether a kind needs
// the record.

func usersToPB(in []state.UserProperty) []*pb.UserProperty {
	if len(in) == 0 {
		return nil
	}
	out := make([]*pb.UserProperty, len(in))
	for i, u := range in {
		out[i] = &pb.UserProperty{Key: u.Key, Value: u.Value}
	}
	return out
}

func usersFromPB(c *checker, field string, in []*pb.UserProperty) []state.UserProperty {
	if len(in) == 0 {
		return nil
	}
	out := make([]state.UserProperty, len(in))
	for i, u := range in {
		if u == nil {
			c.failf("%s[%d] is nil", field, i)
			return nil
		}
		out[i] = state.UserProperty{Key: u.Key, Value: u.Value}
	}
	return out
}

func sessionToPB(s *state.Session) *pb.Session {
	if s == nil {
		return nil
	}
	return &pb.Session{
		ClientId:          s.ClientID,
		Username:          s.Username,
		Listener:          s.Listener,
		ProtocolVersion:   uint32(s.ProtocolVersion),
		Clean:             s.Clean,
		ExpiryInterval:    s.ExpiryInterval,
		ExpiryFlag:        s.ExpiryFlag,
		ReceiveMaximum:    uint32(s.ReceiveMaximum),
		TopicAliasMaximum: uint32(s.TopicAliasMaximum),
		MaximumPacketSize: s.MaximumPacketSize,
		User:              usersToPB(s.User),
		Will:              willToPB(s.Will),
		ConnectedAt:       s.ConnectedAt,
		DisconnectedAt:    s.DisconnectedAt,
	}
}

func sessionFromPB(c *checker, p *pb.Session) *state.Session {
	if p == nil {
		return nil
	}
	return &state.Session{
		ClientID:          p.ClientId,
		Username:          p.Username,
		Listener:          p.Listener,
		ProtocolVersion:   c.byte("session.protocol_version", p.ProtocolVersion),
		Clean:             p.Clean,
		ExpiryInterval:    p.ExpiryInterval,
		ExpiryFlag:        p.ExpiryFlag,
		ReceiveMaximum:    c.uint16("session.receive_maximum", p.ReceiveMaximum),
		TopicAliasMaximum: c.uint16("session.topic_alias_maximum", p.TopicAliasMaximum),
		MaximumPacketSize: p.MaximumPacketSize,
		User:              usersFromPB(c, "session.user", p.User),
		Will:              willFromPB(c, p.Will),
		ConnectedAt:       p.ConnectedAt,
		DisconnectedAt:    p.DisconnectedAt,
	}
}

func willToPB(w *state.Will) *pb.Will {
	if w == nil {
		return nil
	}
	return &pb.Will{
		Topic:         w.Topic,
		Payload:       w.Payload,
		Qos:           uint32(w.QoS),
		Retain:        w.Retain,
		DelayInterval: w.DelayInterval,
		User:          usersToPB(w.User),
	}
}

func willFromPB(c *checker, p *pb.Will) *state.Will {
	if p == nil {
		return nil
	}
	return &state.Will{
		Topic:         p.Topic,
		Payload:       p.Payload,
		QoS:           c.byte("session.will.qos", p.Qos),
		Retain:        p.Retain,
		DelayInterval: p.DelayInterval,
		User:          usersFromPB(c, "session.will.user", p.User),
	}
}

func subToPB(c *checker, s *state.Subscription) *pb.Subscription {
	if s == nil {
		return nil
	}
	return &pb.Subscription{
		ClientId:          s.ClientID,
		Filter:            s.Filter,
		Qos:               uint32(s.QoS),
		NoLocal:           s.NoLocal,
		RetainAsPublished: s.RetainAsPublished,
		RetainHandling:    uint32(s.RetainHandling),
		Identifier:        int64(c.subID("sub.identifier", int64(s.Identifier))),
	}
}

func subFromPB(c *checker, p *pb.Subscription) *state.Subscription {
	if p == nil {
		return nil
	}
	return &state.Subscription{
		ClientID:          p.ClientId,
		Filter:            p.Filter,
		QoS:               c.byte("sub.qos", p.Qos),
		NoLocal:           p.NoLocal,
		RetainAsPublished: p.RetainAsPublished,
		RetainHandling:    c.byte("sub.retain_handling", p.RetainHandling),
		Identifier:        c.subID("sub.identifier", p.Identifier),
	}
}

func messageToPB(m *state.Message) *pb.Message {
	if m == nil {
		return nil
	}
	return &pb.Message{
		Id:              m.ID,
		Topic:           m.Topic,
		Payload:         m.Payload,
		Qos:             uint32(m.QoS),
		Retain:          m.Retain,
		Origin:          m.Origin,
		ProtocolVersion: uint32(m.ProtocolVersion),
		Created:         m.Created,
		Expiry:          m.Expiry,
		Props: &pb.MessageProps{
			PayloadFormat:     uint32(m.Props.PayloadFormat),
			PayloadFormatFlag: m.Props.PayloadFormatFlag,
			ExpiryInterval:    m.Props.ExpiryInterval,
			ContentType:       m.Props.ContentType,
			ResponseTopic:     m.Props.ResponseTopic,
			CorrelationData:   m.Props.CorrelationData,
			User:              usersToPB(m.Props.User),
		},
		Routed: m.Routed,
	}
}

// messageFromPB converts a message; absent props are zero props, as
// state.Message holds them by value.
func messageFromPB(c *checker, p *pb.Message) *state.Message {
	if p == nil {
		return nil
	}
	pp := p.Props
	if pp == nil {
		pp = &pb.MessageProps{}
	}
	return &state.Message{
		ID:              p.Id,
		Topic:           p.Topic,
		Payload:         p.Payload,
		QoS:             c.byte("msg.qos", p.Qos),
		Retain:          p.Retain,
		Origin:          p.Origin,
		ProtocolVersion: c.byte("msg.protocol_version", p.ProtocolVersion),
		Created:         p.Created,
		Expiry:          p.Expiry,
		Props: state.MessageProps{
			PayloadFormat:     c.byte("msg.props.payload_format", pp.PayloadFormat),
			PayloadFormatFlag: pp.PayloadFormatFlag,
			ExpiryInterval:    pp.ExpiryInterval,
			ContentType:       pp.ContentType,
			ResponseTopic:     pp.ResponseTopic,
			CorrelationData:   pp.CorrelationData,
			User:              usersFromPB(c, "msg.props.user", pp.User),
		},
		Routed: p.Routed,
	}
}

func deliveryToPB(c *checker, d *state.Delivery) *pb.Delivery {
	if d == nil {
		return nil
	}
	return &pb.Delivery{
		ClientId: d.ClientID,
		MsgId:    d.MsgID,
		PacketId: uint32(d.PacketID),
		Qos:      uint32(d.QoS),
		Retain:   d.Retain,
		SubIds:   c.subIDsToPB(d.SubIDs),
		State:    c.deliveryStateToPB(d.State),
	}
}

func deliveryFromPB(c *checker, p *pb.Delivery) *state.Delivery {
	if p == nil {
		return nil
	}
	return &state.Delivery{
		ClientID: p.ClientId,
		MsgID:    p.MsgId,
		PacketID: c.uint16("delivery.packet_id", p.PacketId),
		QoS:      c.byte("delivery.qos", p.Qos),
		Retain:   p.Retain,
		SubIDs:   c.subIDsFromPB(p.SubIds),
		State:    c.deliveryStateFromPB(p.State),
	}
}

func inboundToPB(in *state.Inbound) *pb.Inbound {
	if in == nil {
		return nil
	}
	return &pb.Inbound{ClientId: in.ClientID, PacketId: uint32(in.PacketID), Created: in.Created}
}

func inboundFromPB(c *checker, p *pb.Inbound) *state.Inbound {
	if p == nil {
		return nil
	}
	return &state.Inbound{
		ClientID: p.ClientId,
		PacketID: c.uint16("inbound.packet_id", p.PacketId),
		Created:  p.Created,
	}
}
