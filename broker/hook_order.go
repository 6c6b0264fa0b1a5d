package broker

import (
	"slices"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Delivery order. mochi resends a session's in-flight messages on
// reconnect sorted by uint16(Created), and its sort is not stable: messages
// queued within the same second come out in any order. Triad makes Created
// an order key instead of a time (mochi uses it for nothing else once
// MaximumMessageExpiryInterval is 0, which Triad always sets, applying
// message expiry through Expiry):
//
//	Created = msgID<<16 | key
//
// where msgID is the global acceptance sequence (so the true order is
// Created>>16) and key is what mochi sorts on. A new message gets
// key = msgID&0xFFFF, which is in order until the ids wrap; before mochi
// sorts a session's messages for the resend (OnSessionEstablish, and the
// restore) renumber checks the order and, if it is wrong, renumbers the keys
// 1..n in true order.
//
// mochi's other sorted queue, the one its send quota holds back, is never
// used: Triad switches the quota off (OnConnect) and enforces the window on
// the connection, which keeps mochi's write order. So nothing is renumbered
// per packet; an O(n) pass over a session's in-flight map per client packet
// made a reconnect with thousands queued quadratic (5000 queued QoS 1/2
// messages took over a minute to drain).

func orderKey(msgID uint64) int64 {
	return int64(msgID)<<16 | int64(msgID&0xFFFF)
}

func orderOf(pk packets.Packet) int64 { return pk.Created >> 16 }

// inflightStore is the part of mochi's Inflight renumber needs.
type inflightStore interface {
	GetAll(immediate bool) []packets.Packet
	Set(packets.Packet) bool
}

// renumber makes mochi's sort of the (immediate, or all) in-flight entries
// agree with their true order. It reports whether it changed anything.
func renumber(in inflightStore, immediate bool) bool {
	all := in.GetAll(immediate) // sorted by uint16(Created), as mochi sends them
	ordered := true
	for i := 1; i < len(all); i++ {
		if orderOf(all[i]) < orderOf(all[i-1]) {
			ordered = false
			break
		}
	}
	if ordered {
		return false
	}
	slices.SortStableFunc(all, func(a, b packets.Packet) int {
		switch {
		case orderOf(a) < orderOf(b):
			return -1
		case orderOf(a) > orderOf(b):
			return 1
		}
		return 0
	})
	for i, pk := range all {
		pk.Created = orderOf(pk)<<16 | int64(i+1)
		in.Set(pk)
	}
	return true
}
