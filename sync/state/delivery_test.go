package state

import (
	"reflect"
	"testing"
)

// TestRoutedDoneRule walks one message through the rule that a delivery
// completed before its message is routed stays as a done marker (so that a
// replayed fan-out skips that session) until the message is routed.
func TestRoutedDoneRule(t *testing.T) {
	s, _ := newStore(t)
	steps := []struct {
		name string
		ops  []Op
		want view
	}{
		{
			name: "accepted unrouted",
			ops:  []Op{acceptMsg(1)},
			want: view{Msgs: []string{"1"}},
		},
		{
			name: "deliveries for c1 and c2",
			ops:  []Op{putDeliv("c1", 1, DeliveryPublish), putDeliv("c2", 1, DeliveryPublish)},
			want: view{Msgs: []string{"1"}, Deliveries: []string{"c1 1 publish", "c2 1 publish"}},
		},
		{
			name: "c1 done before routed keeps a done marker",
			ops:  []Op{doneDeliv("c1", 1)},
			want: view{Msgs: []string{"1"}, Deliveries: []string{"c1 1 done", "c2 1 publish"}},
		},
		{
			name: "routed forgets c1 and keeps c2 and the message",
			ops:  []Op{routeMsg(1)},
			want: view{Msgs: []string{"1 routed"}, Deliveries: []string{"c2 1 publish"}},
		},
		{
			name: "c2 done deletes the message",
			ops:  []Op{doneDeliv("c2", 1)},
			want: view{},
		},
	}
	for _, st := range steps {
		if !t.Run(st.name, func(t *testing.T) {
			mustApply(t, s, st.ops)
			checkView(t, s, st.want)
		}) {
			break // later steps build on this one
		}
	}
}

func TestRoutedDoneCases(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name:    "done after routed deletes delivery and message",
			entries: [][]Op{{acceptMsg(1), putDeliv("c1", 1, DeliveryPublish)}, {routeMsg(1)}, {doneDeliv("c1", 1)}},
			want:    view{},
		},
		{
			name: "done after routed keeps message for another delivery",
			entries: [][]Op{
				{acceptMsg(1), putDeliv("c1", 1, DeliveryPublish), putDeliv("c2", 1, DeliveryPubrel)},
				{routeMsg(1)},
				{doneDeliv("c1", 1)},
			},
			want: view{Msgs: []string{"1 routed"}, Deliveries: []string{"c2 1 pubrel"}},
		},
		{
			name:    "routed with no deliveries deletes the message",
			entries: [][]Op{{acceptMsg(1), acceptMsg(2)}, {routeMsg(1)}},
			want:    view{Msgs: []string{"2"}},
		},
		{
			name: "routed keeps publish and pubrel deliveries",
			entries: [][]Op{
				{acceptMsg(1), putDeliv("c1", 1, DeliveryPublish), putDeliv("c2", 1, DeliveryPubrel)},
				{routeMsg(1)},
			},
			want: view{Msgs: []string{"1 routed"}, Deliveries: []string{"c1 1 publish", "c2 1 pubrel"}},
		},
		{
			name: "routed drops only deliveries of that message",
			entries: [][]Op{
				{acceptMsg(1), acceptMsg(2), putDeliv("c1", 1, DeliveryPublish), putDeliv("c1", 2, DeliveryPublish)},
				{doneDeliv("c1", 1), doneDeliv("c1", 2)},
				{routeMsg(1)},
			},
			want: view{Msgs: []string{"2"}, Deliveries: []string{"c1 2 done"}},
		},
		{
			name:    "done for an unknown delivery of an unrouted message leaves a done marker",
			entries: [][]Op{{acceptMsg(1)}, {doneDeliv("c1", 1)}},
			want:    view{Msgs: []string{"1"}, Deliveries: []string{"c1 1 done"}},
			check: func(t *testing.T, snap *Snapshot) {
				want := Delivery{ClientID: "c1", MsgID: 1, State: DeliveryDone}
				if !reflect.DeepEqual(snap.Deliveries[0], want) {
					t.Errorf("marker = %+v, want %+v", snap.Deliveries[0], want)
				}
			},
		},
		{
			name:    "done marker without a delivery is dropped at routing",
			entries: [][]Op{{acceptMsg(1)}, {doneDeliv("c1", 1)}, {routeMsg(1)}},
			want:    view{},
		},
		{
			name: "done before routed keeps the delivery's fields",
			entries: [][]Op{
				{acceptMsg(1), {Kind: OpDeliveryPut, Delivery: &Delivery{ClientID: "c1", MsgID: 1, PacketID: 7, QoS: 2, Retain: true, SubIDs: []int{3}, State: DeliveryPubrel}}},
				{doneDeliv("c1", 1)},
			},
			want: view{Msgs: []string{"1"}, Deliveries: []string{"c1 1 done"}},
			check: func(t *testing.T, snap *Snapshot) {
				want := Delivery{ClientID: "c1", MsgID: 1, PacketID: 7, QoS: 2, Retain: true, SubIDs: []int{3}, State: DeliveryDone}
				if !reflect.DeepEqual(snap.Deliveries[0], want) {
					t.Errorf("marker = %+v, want %+v", snap.Deliveries[0], want)
				}
			},
		},
		{
			name:    "done twice before routed stays done",
			entries: [][]Op{{acceptMsg(1), putDeliv("c1", 1, DeliveryPublish)}, {doneDeliv("c1", 1)}, {doneDeliv("c1", 1)}},
			want:    view{Msgs: []string{"1"}, Deliveries: []string{"c1 1 done"}},
		},
		{
			name:    "done for an unknown message is a no-op",
			entries: [][]Op{{doneDeliv("c1", 9)}},
			want:    view{},
		},
		{
			name:    "done for an unknown message drops a stray delivery",
			entries: [][]Op{{putDeliv("c1", 9, DeliveryPublish)}, {doneDeliv("c1", 9)}},
			want:    view{},
		},
		{
			name:    "routed for an unknown message is a no-op",
			entries: [][]Op{{acceptMsg(1)}, {routeMsg(9)}},
			want:    view{Msgs: []string{"1"}},
		},
		{
			name:    "routed for an unknown message creates none",
			entries: [][]Op{{putDeliv("c1", 9, DeliveryPublish)}, {routeMsg(9)}},
			want:    view{Deliveries: []string{"c1 9 publish"}},
		},
		{
			name: "routed twice is harmless",
			entries: [][]Op{
				{acceptMsg(1), putDeliv("c1", 1, DeliveryPublish)},
				{routeMsg(1)},
				{routeMsg(1)},
			},
			want: view{Msgs: []string{"1 routed"}, Deliveries: []string{"c1 1 publish"}},
		},
		{
			name: "whole fan-out in one entry",
			entries: [][]Op{{
				acceptMsg(1), putDeliv("c1", 1, DeliveryPublish), putDeliv("c2", 1, DeliveryPublish),
				doneDeliv("c1", 1), routeMsg(1),
			}},
			want: view{Msgs: []string{"1 routed"}, Deliveries: []string{"c2 1 publish"}},
		},
		{
			name: "all done before routed deletes the message at routing",
			entries: [][]Op{
				{acceptMsg(1), putDeliv("c1", 1, DeliveryPublish), putDeliv("c2", 1, DeliveryPubrel)},
				{doneDeliv("c1", 1), doneDeliv("c2", 1)},
				{routeMsg(1)},
			},
			want: view{},
		},
	})
}
