package state

import (
	"strings"
	"testing"
)

func TestOpValidate(t *testing.T) {
	cases := []struct {
		name     string
		op       Op
		wantText string // empty: valid
	}{
		{name: "session put", op: putSession("a")},
		{name: "session put without session", op: Op{Kind: OpSessionPut}, wantText: "incomplete session_put"},
		{name: "session put without client id", op: Op{Kind: OpSessionPut, Session: &Session{}}, wantText: "incomplete session_put"},
		{name: "session delete", op: delSession("a")},
		{name: "session delete without client id", op: Op{Kind: OpSessionDelete}, wantText: "incomplete session_delete"},
		{name: "sub put", op: putSub("a", "x")},
		{name: "sub put without sub", op: Op{Kind: OpSubPut}, wantText: "incomplete sub_put"},
		{name: "sub put without client id", op: Op{Kind: OpSubPut, Sub: &Subscription{Filter: "x"}}, wantText: "incomplete sub_put"},
		{name: "sub put without filter", op: Op{Kind: OpSubPut, Sub: &Subscription{ClientID: "a"}}, wantText: "incomplete sub_put"},
		{name: "sub delete", op: delSub("a", "x")},
		{name: "sub delete without filter", op: Op{Kind: OpSubDelete, ClientID: "a"}, wantText: "incomplete sub_delete"},
		{name: "sub delete without client id", op: Op{Kind: OpSubDelete, Filter: "x"}, wantText: "incomplete sub_delete"},
		{name: "msg accept", op: acceptMsg(1)},
		{name: "msg accept without msg", op: Op{Kind: OpMsgAccept}, wantText: "incomplete msg_accept"},
		{name: "msg accept with id 0", op: Op{Kind: OpMsgAccept, Msg: &Message{Topic: "t"}}, wantText: "incomplete msg_accept"},
		{name: "msg routed", op: routeMsg(1)},
		{name: "msg routed with id 0", op: Op{Kind: OpMsgRouted}, wantText: "incomplete msg_routed"},
		{name: "delivery put", op: putDeliv("a", 1, DeliveryPublish)},
		{name: "delivery put without delivery", op: Op{Kind: OpDeliveryPut}, wantText: "incomplete delivery_put"},
		{name: "delivery put without client id", op: Op{Kind: OpDeliveryPut, Delivery: &Delivery{MsgID: 1}}, wantText: "incomplete delivery_put"},
		{name: "delivery put with msg id 0", op: Op{Kind: OpDeliveryPut, Delivery: &Delivery{ClientID: "a"}}, wantText: "incomplete delivery_put"},
		{name: "delivery done", op: doneDeliv("a", 1)},
		{name: "delivery done without client id", op: Op{Kind: OpDeliveryDone, MsgID: 1}, wantText: "incomplete delivery_done"},
		{name: "delivery done with msg id 0", op: Op{Kind: OpDeliveryDone, ClientID: "a"}, wantText: "incomplete delivery_done"},
		{name: "inbound put", op: putInbound("a", 0)},
		{name: "inbound put without inbound", op: Op{Kind: OpInboundPut}, wantText: "incomplete inbound_put"},
		{name: "inbound put without client id", op: Op{Kind: OpInboundPut, Inbound: &Inbound{PacketID: 1}}, wantText: "incomplete inbound_put"},
		{name: "inbound delete", op: delInbound("a", 0)},
		{name: "inbound delete without client id", op: Op{Kind: OpInboundDelete, PacketID: 1}, wantText: "incomplete inbound_delete"},
		{name: "retained put", op: putRetained("t")},
		{name: "retained put without msg", op: Op{Kind: OpRetainedPut}, wantText: "incomplete retained_put"},
		{name: "retained put without topic", op: Op{Kind: OpRetainedPut, Msg: &Message{ID: 1}}, wantText: "incomplete retained_put"},
		{name: "retained delete", op: delRetained("t")},
		{name: "retained delete without topic", op: Op{Kind: OpRetainedDelete}, wantText: "incomplete retained_delete"},
		{name: "invalid kind", op: Op{Kind: OpInvalid, ClientID: "a"}, wantText: "unknown op kind 0"},
		{name: "dynsec put", op: Op{Kind: OpDynsecPut, Dynsec: []byte("{}")}},
		{name: "dynsec put without configuration", op: Op{Kind: OpDynsecPut}, wantText: "incomplete dynsec_put"},
		{name: "kind past the last", op: Op{Kind: OpDynsecPut + 1, Topic: "t"}, wantText: "unknown op kind 14"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op.Validate()
			switch {
			case tc.wantText == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantText != "" && (err == nil || !strings.Contains(err.Error(), tc.wantText)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantText)
			}
		})
	}
}

func TestKindStrings(t *testing.T) {
	cases := []struct {
		name string
		got  string
		want string
	}{
		{name: "first op", got: OpSessionPut.String(), want: "session_put"},
		{name: "last op", got: OpRetainedDelete.String(), want: "retained_delete"},
		{name: "invalid op", got: OpInvalid.String(), want: "invalid"},
		{name: "unknown op", got: OpKind(99).String(), want: "op(99)"},
		{name: "publish state", got: DeliveryPublish.String(), want: "publish"},
		{name: "pubrel state", got: DeliveryPubrel.String(), want: "pubrel"},
		{name: "done state", got: DeliveryDone.String(), want: "done"},
		{name: "unknown state", got: DeliveryState(7).String(), want: "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("String() = %q, want %q", tc.got, tc.want)
			}
		})
	}
	for k := OpInvalid; k <= OpRetainedDelete; k++ {
		if strings.HasPrefix(k.String(), "op(") {
			t.Errorf("op kind %d has no name", k)
		}
	}
}
