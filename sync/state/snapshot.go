package state

import "sort"

// Ops returns the ops that rebuild this state from nothing (with
// Store.Replace): a follower too far behind, or with a wiped data
// directory, receives them instead of the entries it missed. Messages keep
// their routed flag and deliveries their state, so nothing is fanned out or
// delivered twice.
func (s *Snapshot) Ops() []Op {
	ops := make([]Op, 0, len(s.Sessions)+len(s.Subs)+len(s.Msgs)+len(s.Deliveries)+len(s.Inbound)+len(s.Retained))
	for i := range s.Sessions {
		ops = append(ops, Op{Kind: OpSessionPut, Session: &s.Sessions[i]})
	}
	for i := range s.Subs {
		ops = append(ops, Op{Kind: OpSubPut, Sub: &s.Subs[i]})
	}
	ids := make([]uint64, 0, len(s.Msgs))
	for id := range s.Msgs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		ops = append(ops, Op{Kind: OpMsgAccept, Msg: s.Msgs[id]})
	}
	for i := range s.Deliveries {
		ops = append(ops, Op{Kind: OpDeliveryPut, Delivery: &s.Deliveries[i]})
	}
	for i := range s.Inbound {
		ops = append(ops, Op{Kind: OpInboundPut, Inbound: &s.Inbound[i]})
	}
	for i := range s.Retained {
		ops = append(ops, Op{Kind: OpRetainedPut, Msg: &s.Retained[i]})
	}
	if len(s.Dynsec) > 0 {
		ops = append(ops, Op{Kind: OpDynsecPut, Dynsec: s.Dynsec})
	}
	return ops
}
