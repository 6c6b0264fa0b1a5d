package sync

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/triadmq/triad/sync/pb"
	"github.com/triadmq/triad/sync/state"
)

// The fixtures set every field of every record to a distinct non-zero
// value (TestFixturesSetEveryField checks it), so that a field mapped to
// the wrong place or not at all fails the round trip.

func fullWill() *state.Will {
	return &state.Will{
		Topic:         "will/topic",
		Payload:       []byte("gone"),
		QoS:           2,
		Retain:        true,
		DelayInterval: 30,
		User:          []state.UserProperty{{Key: "wk", Value: "wv"}, {Key: "wk2", Value: "wv2"}},
	}
}

func fullSession() *state.Session {
	return &state.Session{
		ClientID:          "client-s",
		Username:          []byte("alice"),
		Listener:          "tcp1",
		ProtocolVersion:   5,
		Clean:             true,
		ExpiryInterval:    3600,
		ExpiryFlag:        true,
		ReceiveMaximum:    65535,
		TopicAliasMaximum: 17,
		MaximumPacketSize: 1 << 20,
		User:              []state.UserProperty{{Key: "sk", Value: "sv"}},
		Will:              fullWill(),
		ConnectedAt:       1_700_000_000,
		DisconnectedAt:    1_700_000_100,
	}
}

func fullSub() *state.Subscription {
	return &state.Subscription{
		ClientID:          "client-sub",
		Filter:            "a/+/c",
		QoS:               1,
		NoLocal:           true,
		RetainAsPublished: true,
		RetainHandling:    2,
		Identifier:        maxSubscriptionID,
	}
}

func fullMsg(id uint64, topic string) *state.Message {
	return &state.Message{
		ID:              id,
		Topic:           topic,
		Payload:         []byte("payload"),
		QoS:             2,
		Retain:          true,
		Origin:          "publisher",
		ProtocolVersion: 4,
		Created:         1_700_000_200,
		Expiry:          1_700_003_800,
		Props: state.MessageProps{
			PayloadFormat:     1,
			PayloadFormatFlag: true,
			ExpiryInterval:    3600,
			ContentType:       "text/plain",
			ResponseTopic:     "reply/here",
			CorrelationData:   []byte{0xde, 0xad},
			User:              []state.UserProperty{{Key: "mk", Value: "mv"}},
		},
		Routed: true,
	}
}

func fullDelivery() *state.Delivery {
	return &state.Delivery{
		ClientID: "client-d",
		MsgID:    42,
		PacketID: 65535,
		QoS:      1,
		Retain:   true,
		SubIDs:   []int{1, 77, maxSubscriptionID},
		State:    state.DeliveryPubrel,
	}
}

func fullInbound() *state.Inbound {
	return &state.Inbound{ClientID: "client-in", PacketID: 9, Created: 1_700_000_300}
}

// opCases holds one op of every kind.
func opCases() []struct {
	name string
	op   state.Op
} {
	return []struct {
		name string
		op   state.Op
	}{
		{"session put", state.Op{Kind: state.OpSessionPut, Session: fullSession()}},
		{"session delete", state.Op{Kind: state.OpSessionDelete, ClientID: "client-s"}},
		{"sub put", state.Op{Kind: state.OpSubPut, Sub: fullSub()}},
		{"sub delete", state.Op{Kind: state.OpSubDelete, ClientID: "client-sub", Filter: "a/+/c"}},
		{"msg accept", state.Op{Kind: state.OpMsgAccept, Msg: fullMsg(42, "a/b/c")}},
		{"msg routed", state.Op{Kind: state.OpMsgRouted, MsgID: 42}},
		{"delivery put", state.Op{Kind: state.OpDeliveryPut, Delivery: fullDelivery()}},
		{"delivery done", state.Op{Kind: state.OpDeliveryDone, ClientID: "client-d", MsgID: 42}},
		{"inbound put", state.Op{Kind: state.OpInboundPut, Inbound: fullInbound()}},
		{"inbound delete", state.Op{Kind: state.OpInboundDelete, ClientID: "client-in", PacketID: 65535}},
		{"retained put", state.Op{Kind: state.OpRetainedPut, Msg: fullMsg(43, "r/t")}},
		{"retained delete", state.Op{Kind: state.OpRetainedDelete, Topic: "r/t"}},
		{"dynsec put", state.Op{Kind: state.OpDynsecPut, Dynsec: []byte(`{"clients":[]}`)}},
		{"dynsec put with kicks", state.Op{Kind: state.OpDynsecPut, Dynsec: []byte(`{"clients":[]}`),
			Kicks: &state.DynsecKicks{Usernames: []string{"a", "b"}, Anonymous: true, SpareNode: "n2", SpareClient: "admin-1"}}},
	}
}

// zeroFields lists the paths under v that hold a zero value: nil pointers,
// empty slices and zero scalars, looking into structs, pointers and slice
// elements.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Struct:
		var out []string
		for i := range v.NumField() {
			out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		var out []string
		for i := range v.Len() {
			out = append(out, zeroFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// TestFixturesSetEveryField fails when a record or op gains a field that the
// fixtures (and so, most likely, the conversion) do not cover, or when a new
// op kind has no case.
func TestFixturesSetEveryField(t *testing.T) {
	records := map[string]any{
		"Session":      fullSession(),
		"Subscription": fullSub(),
		"Message":      fullMsg(1, "t"),
		"Delivery":     fullDelivery(),
		"Inbound":      fullInbound(),
	}
	for name, r := range records {
		if zero := zeroFields(reflect.ValueOf(r), name); len(zero) > 0 {
			t.Errorf("fixture leaves fields zero: %s", strings.Join(zero, ", "))
		}
	}

	// Every field of Op is set by at least one case.
	cases := opCases()
	opType := reflect.TypeFor[state.Op]()
	for i := range opType.NumField() {
		set := slices.ContainsFunc(cases, func(c struct {
			name string
			op   state.Op
		}) bool {
			return !reflect.ValueOf(c.op).Field(i).IsZero()
		})
		if !set {
			t.Errorf("no case sets Op.%s", opType.Field(i).Name)
		}
	}

	// Every kind has a case; kinds past the last print as "op(N)".
	for k := state.OpInvalid + 1; !strings.HasPrefix(k.String(), "op("); k++ {
		if !slices.ContainsFunc(cases, func(c struct {
			name string
			op   state.Op
		}) bool {
			return c.op.Kind == k
		}) {
			t.Errorf("no case for op kind %s", k)
		}
	}
}

// roundTrip converts o to the wire, through its binary encoding and back.
func roundTrip(t *testing.T, o *state.Op) state.Op {
	t.Helper()
	p, err := OpToPB(o)
	if err != nil {
		t.Fatalf("OpToPB: %v", err)
	}
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	var back pb.Op
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	got, err := OpFromPB(&back)
	if err != nil {
		t.Fatalf("OpFromPB: %v", err)
	}
	return got
}

func TestOpRoundTrip(t *testing.T) {
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundTrip(t, &tc.op); !reflect.DeepEqual(got, tc.op) {
				t.Errorf("round trip:\n got %s\nwant %s", dump(got), dump(tc.op))
			}
		})
	}
}

// TestOpRoundTripSparse round-trips records with their optional parts
// absent: nil slices and will stay nil, zero props stay zero.
func TestOpRoundTripSparse(t *testing.T) {
	for _, o := range []state.Op{
		{Kind: state.OpSessionPut, Session: &state.Session{ClientID: "c"}},
		{Kind: state.OpMsgAccept, Msg: &state.Message{ID: 1}},
		{Kind: state.OpDeliveryPut, Delivery: &state.Delivery{ClientID: "c", MsgID: 1}},
		{Kind: state.OpInboundPut, Inbound: &state.Inbound{ClientID: "c"}},
	} {
		t.Run(o.Kind.String(), func(t *testing.T) {
			if got := roundTrip(t, &o); !reflect.DeepEqual(got, o) {
				t.Errorf("round trip:\n got %s\nwant %s", dump(got), dump(o))
			}
		})
	}
}

func TestDeliveryStatesRoundTrip(t *testing.T) {
	for s := state.DeliveryPublish; s.String() != "unknown"; s++ {
		t.Run(s.String(), func(t *testing.T) {
			d := fullDelivery()
			d.State = s
			o := state.Op{Kind: state.OpDeliveryPut, Delivery: d}
			if got := roundTrip(t, &o); got.Delivery.State != s {
				t.Errorf("state %s came back as %s", s, got.Delivery.State)
			}
		})
	}
}

// TestWireFieldsCovered fails when the proto gains a field that OpToPB
// leaves unset for the fixtures: a field with no mapping.
func TestWireFieldsCovered(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	for _, tc := range opCases() {
		p, err := OpToPB(&tc.op)
		if err != nil {
			t.Fatalf("%s: OpToPB: %v", tc.name, err)
		}
		setFields(p.ProtoReflect(), seen)
	}
	notMapped := map[protoreflect.FullName]bool{}
	all := map[protoreflect.FullName]bool{}
	allFields((&pb.Op{}).ProtoReflect().Descriptor(), all)
	for name := range all {
		if !seen[name] && !notMapped[name] {
			t.Errorf("wire field %s is never set by OpToPB", name)
		}
	}
}

func setFields(m protoreflect.Message, seen map[protoreflect.FullName]bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		seen[fd.FullName()] = true
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				setFields(v.List().Get(i).Message(), seen)
			}
		case fd.Message() != nil && !fd.IsMap():
			setFields(v.Message(), seen)
		}
		return true
	})
}

func allFields(md protoreflect.MessageDescriptor, all map[protoreflect.FullName]bool) {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if all[fd.FullName()] {
			continue
		}
		all[fd.FullName()] = true
		if fd.Message() != nil {
			allFields(fd.Message(), all)
		}
	}
}

// wireOp returns the wire form of the fixture op of the given kind.
func wireOp(t *testing.T, k state.OpKind) *pb.Op {
	t.Helper()
	for _, tc := range opCases() {
		if tc.op.Kind == k {
			p, err := OpToPB(&tc.op)
			if err != nil {
				t.Fatalf("OpToPB(%s): %v", k, err)
			}
			return p
		}
	}
	t.Fatalf("no case for %s", k)
	return nil
}

func TestOpFromPBRejectsOutOfRange(t *testing.T) {
	cases := []struct {
		kind   state.OpKind
		mutate func(*pb.Op)
		want   string // field and value
	}{
		{state.OpSessionPut, func(p *pb.Op) { p.Session.ProtocolVersion = 256 }, "session.protocol_version 256"},
		{state.OpSessionPut, func(p *pb.Op) { p.Session.ReceiveMaximum = 65536 }, "session.receive_maximum 65536"},
		{state.OpSessionPut, func(p *pb.Op) { p.Session.TopicAliasMaximum = 1 << 31 }, "session.topic_alias_maximum 2147483648"},
		{state.OpSessionPut, func(p *pb.Op) { p.Session.Will.Qos = 300 }, "session.will.qos 300"},
		{state.OpSubPut, func(p *pb.Op) { p.Sub.Qos = 256 }, "sub.qos 256"},
		{state.OpSubPut, func(p *pb.Op) { p.Sub.RetainHandling = 1000 }, "sub.retain_handling 1000"},
		{state.OpSubPut, func(p *pb.Op) { p.Sub.Identifier = maxSubscriptionID + 1 }, "sub.identifier 268435456"},
		{state.OpSubPut, func(p *pb.Op) { p.Sub.Identifier = -1 }, "sub.identifier -1"},
		{state.OpSubPut, func(p *pb.Op) { p.Sub.Identifier = 1 << 40 }, "sub.identifier 1099511627776"},
		{state.OpMsgAccept, func(p *pb.Op) { p.Msg.Qos = 4294967295 }, "msg.qos 4294967295"},
		{state.OpMsgAccept, func(p *pb.Op) { p.Msg.ProtocolVersion = 261 }, "msg.protocol_version 261"},
		{state.OpRetainedPut, func(p *pb.Op) { p.Msg.Props.PayloadFormat = 257 }, "msg.props.payload_format 257"},
		{state.OpDeliveryPut, func(p *pb.Op) { p.Delivery.PacketId = 65536 }, "delivery.packet_id 65536"},
		{state.OpDeliveryPut, func(p *pb.Op) { p.Delivery.Qos = 256 }, "delivery.qos 256"},
		{state.OpDeliveryPut, func(p *pb.Op) { p.Delivery.SubIds[1] = -5 }, "delivery.sub_ids[1] -5"},
		{state.OpDeliveryPut, func(p *pb.Op) { p.Delivery.SubIds[2] = 1 << 33 }, "delivery.sub_ids[2] 8589934592"},
		{state.OpDeliveryPut, func(p *pb.Op) { p.Delivery.State = 3 }, "delivery.state 3"},
		{state.OpDeliveryPut, func(p *pb.Op) { p.Delivery.State = -1 }, "delivery.state -1"},
		{state.OpInboundPut, func(p *pb.Op) { p.Inbound.PacketId = 70000 }, "inbound.packet_id 70000"},
		{state.OpInboundDelete, func(p *pb.Op) { p.PacketId = 65536 }, "packet_id 65536"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			p := wireOp(t, tc.kind)
			tc.mutate(p)
			// Through the binary encoding, as a peer's frame would arrive.
			b, err := proto.Marshal(p)
			if err != nil {
				t.Fatalf("proto.Marshal: %v", err)
			}
			var back pb.Op
			if err := proto.Unmarshal(b, &back); err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
			o, err := OpFromPB(&back)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want+" out of range") {
				t.Fatalf("OpFromPB = %v, want ErrMalformed naming %q", err, tc.want)
			}
			if !reflect.DeepEqual(o, state.Op{}) {
				t.Errorf("OpFromPB returned a partial op with its error: %s", dump(o))
			}
		})
	}
}

func TestOpFromPBRejects(t *testing.T) {
	cases := []struct {
		name string
		op   *pb.Op
		is   error
		want string
	}{
		{"nil op", nil, ErrMalformed, "nil op"},
		{"invalid kind", &pb.Op{ClientId: "c"}, ErrMalformed, "unknown op kind 0"},
		{"kind past the last", &pb.Op{Kind: 99, ClientId: "c"}, ErrMalformed, "unknown op kind 99"},
		{"dynsec without a configuration", &pb.Op{Kind: pb.OpKind_OP_KIND_DYNSEC}, ErrMalformed, "incomplete dynsec_put"},
		{"dynsec payload on another kind", &pb.Op{Kind: pb.OpKind_OP_KIND_SESSION_DELETE, ClientId: "c", Dynsec: []byte("{}")},
			ErrMalformed, "dynsec payload on a session_delete op"},
		{"dynsec kicks on another kind", &pb.Op{Kind: pb.OpKind_OP_KIND_SESSION_DELETE, ClientId: "c", DynsecKicks: &pb.DynsecKicks{Anonymous: true}},
			ErrMalformed, "dynsec payload on a session_delete op"},
		{"session put without session", &pb.Op{Kind: pb.OpKind_OP_KIND_SESSION_PUT, ClientId: "c"}, ErrMalformed, "incomplete session_put"},
		{"sub put without sub", &pb.Op{Kind: pb.OpKind_OP_KIND_SUB_PUT, ClientId: "c", Filter: "f"}, ErrMalformed, "incomplete sub_put"},
		{"msg accept without msg", &pb.Op{Kind: pb.OpKind_OP_KIND_MSG_ACCEPT, MsgId: 1}, ErrMalformed, "incomplete msg_accept"},
		{"delivery put without delivery", &pb.Op{Kind: pb.OpKind_OP_KIND_DELIVERY_PUT, ClientId: "c", MsgId: 1}, ErrMalformed, "incomplete delivery_put"},
		{"inbound put without inbound", &pb.Op{Kind: pb.OpKind_OP_KIND_INBOUND_PUT, ClientId: "c"}, ErrMalformed, "incomplete inbound_put"},
		{"retained put without msg", &pb.Op{Kind: pb.OpKind_OP_KIND_RETAINED_PUT, Topic: "t"}, ErrMalformed, "incomplete retained_put"},
		{"session delete without client id", &pb.Op{Kind: pb.OpKind_OP_KIND_SESSION_DELETE}, ErrMalformed, "incomplete session_delete"},
		{"nil user property", &pb.Op{Kind: pb.OpKind_OP_KIND_SESSION_PUT,
			Session: &pb.Session{ClientId: "c", User: []*pb.UserProperty{{Key: "k"}, nil}}}, ErrMalformed, "session.user[1] is nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpFromPB(tc.op)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpFromPB = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

// TestOpToPBRejects: a leader refuses to send what a follower would refuse.
func TestOpToPBRejects(t *testing.T) {
	badSub := fullSub()
	badSub.Identifier = -1
	bigSub := fullSub()
	bigSub.Identifier = maxSubscriptionID + 1
	badIDs := fullDelivery()
	badIDs.SubIDs = []int{1, maxSubscriptionID + 1}
	badState := fullDelivery()
	badState.State = state.DeliveryDone + 1
	cases := []struct {
		name string
		op   *state.Op
		want string
	}{
		{"nil op", nil, "nil op"},
		{"invalid kind", &state.Op{ClientID: "c"}, "unknown op kind 0"},
		{"kind past the last", &state.Op{Kind: state.OpDynsecPut + 1, Topic: "t"}, "unknown op kind 14"},
		{"session put without session", &state.Op{Kind: state.OpSessionPut, ClientID: "c"}, "incomplete session_put"},
		{"delivery put without delivery", &state.Op{Kind: state.OpDeliveryPut, ClientID: "c", MsgID: 1}, "incomplete delivery_put"},
		{"negative sub identifier", &state.Op{Kind: state.OpSubPut, Sub: badSub}, "sub.identifier -1 out of range"},
		{"sub identifier too big", &state.Op{Kind: state.OpSubPut, Sub: bigSub}, "sub.identifier 268435456 out of range"},
		{"delivery sub id too big", &state.Op{Kind: state.OpDeliveryPut, Delivery: badIDs}, "delivery.sub_ids[1] 268435456 out of range"},
		{"unknown delivery state", &state.Op{Kind: state.OpDeliveryPut, Delivery: badState}, "delivery.state 3 out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := OpToPB(tc.op)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpToPB = %v, want ErrMalformed containing %q", err, tc.want)
			}
			if p != nil {
				t.Errorf("OpToPB returned %v with its error", p)
			}
		})
	}
}

func TestEntryRoundTrip(t *testing.T) {
	var ops []state.Op
	for _, tc := range opCases() {
		ops = append(ops, tc.op)
	}
	p, err := EntryToPB(7, 3, ops)
	if err != nil {
		t.Fatalf("EntryToPB: %v", err)
	}
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	var back pb.Entry
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	if back.Index != 7 || back.Epoch != 3 {
		t.Errorf("wire entry index %d epoch %d, want 7 and 3", back.Index, back.Epoch)
	}
	got, err := EntryFromPB(&back)
	if err != nil {
		t.Fatalf("EntryFromPB: %v", err)
	}
	want := state.Entry{Index: 7, Epoch: 3, Ops: ops}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %s\nwant %s", dump(got), dump(want))
	}
}

func TestEntryRejects(t *testing.T) {
	good := opCases()[0].op
	t.Run("to pb index 0", func(t *testing.T) {
		if _, err := EntryToPB(0, 1, []state.Op{good}); !errors.Is(err, ErrMalformed) {
			t.Errorf("EntryToPB = %v, want ErrMalformed", err)
		}
	})
	t.Run("to pb bad op", func(t *testing.T) {
		_, err := EntryToPB(5, 1, []state.Op{good, {Kind: state.OpSessionPut}})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "entry 5 op 1") {
			t.Errorf("EntryToPB = %v, want ErrMalformed naming entry 5 op 1", err)
		}
	})
	goodPB := wireOp(t, good.Kind)
	cases := []struct {
		name string
		e    *pb.Entry
		is   error
		want string
	}{
		{"nil entry", nil, ErrMalformed, "nil entry"},
		{"index 0", &pb.Entry{Ops: []*pb.Op{goodPB}}, ErrMalformed, "entry index 0"},
		{"nil op", &pb.Entry{Index: 5, Ops: []*pb.Op{goodPB, nil}}, ErrMalformed, "entry 5 op 1"},
		{"out of range op", &pb.Entry{Index: 6, Ops: []*pb.Op{{Kind: pb.OpKind_OP_KIND_INBOUND_DELETE, ClientId: "c", PacketId: 1 << 16}}},
			ErrMalformed, "entry 6 op 0: sync: malformed: packet_id 65536 out of range"},
		{"empty dynsec op", &pb.Entry{Index: 8, Ops: []*pb.Op{goodPB, {Kind: pb.OpKind_OP_KIND_DYNSEC}}}, ErrMalformed, "entry 8 op 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EntryFromPB(tc.e)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("EntryFromPB = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

// dump prints v with pointers followed, for failure messages.
func dump(v any) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(v))
	return b.String()
}

func dumpValue(b *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		b.WriteString("&")
		dumpValue(b, v.Elem())
	case reflect.Struct:
		b.WriteString("{")
		for i := range v.NumField() {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(v.Type().Field(i).Name + ":")
			dumpValue(b, v.Field(i))
		}
		b.WriteString("}")
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			fmt.Fprintf(b, "%q", v.Bytes())
			return
		}
		b.WriteString("[")
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(" ")
			}
			dumpValue(b, v.Index(i))
		}
		b.WriteString("]")
	default:
		fmt.Fprintf(b, "%v", v.Interface())
	}
}
