package broker

import "bytes"

// MQTT control packet types the connection layer looks at.
const (
	typeConnack = 2
	typePublish = 3
	typePuback  = 4
	typePubrec  = 5
	typePubrel  = 6
	typePubcomp = 7
)

// outWindow is the outbound in-flight window of one connection: at most
// limit QoS 1/2 PUBLISH packets are unacknowledged on the wire; later ones
// wait, in order, until the client acknowledges one (PUBACK, PUBCOMP, or a
// PUBREC with an error code: MQTT 5 §4.9). The limit is the smaller of the
// configured max_inflight and the client's Receive Maximum.
//
// mochi has its own send quota, but its Inflight.NextImmediate takes a read
// lock twice, which deadlocks as soon as a publisher waits for the write
// lock in between (seen under QoS 1 load). Triad turns mochi's quota off and
// enforces the window here, on the bytes, where it cannot race.
//
// QoS 0 PUBLISH packets and every other packet type pass a full window: the
// ordering MQTT requires is per QoS level, and holding QoS 0 behind a slow
// consumer's window would hold them without bound.
type outWindow struct {
	limit int                 // 0: no window
	out   map[uint16]struct{} // packet ids sent and not yet acknowledged
	held  [][]byte            // QoS 1/2 PUBLISH packets waiting for room, oldest first
}

func (w *outWindow) setLimit(n int) {
	w.limit = n
	if w.out == nil {
		w.out = map[uint16]struct{}{}
	}
}

// admit splits b (whole packets, as mochi writes them) into what may be
// written now, appended to bufs, and what must wait, which it copies.
func (w *outWindow) admit(b []byte, bufs [][]byte) [][]byte {
	if w.limit <= 0 {
		return append(bufs, b)
	}
	run := 0 // start of the current run of packets that pass
	for off := 0; off < len(b); {
		n, hdr, ok := packetSpan(b[off:])
		if !ok {
			break // not whole packets: pass the rest untouched
		}
		p := b[off : off+n]
		if qos := (p[0] >> 1) & 3; p[0]>>4 == typePublish && qos > 0 {
			id, idOK := publishID(p, hdr)
			_, resent := w.out[id]
			switch {
			case !idOK || resent:
			case len(w.held) > 0 || len(w.out) >= w.limit:
				if off > run {
					bufs = append(bufs, b[run:off])
				}
				w.held = append(w.held, bytes.Clone(p))
				off += n
				run = off
				continue
			default:
				w.out[id] = struct{}{}
			}
		}
		off += n
	}
	if run < len(b) {
		bufs = append(bufs, b[run:])
	}
	return bufs
}

// ack frees the slot of packet id and returns the held packets that now
// fit, in order.
func (w *outWindow) ack(id uint16) [][]byte {
	if _, ok := w.out[id]; !ok {
		return nil
	}
	delete(w.out, id)
	var ready [][]byte
	for len(w.held) > 0 && len(w.out) < w.limit {
		p := w.held[0]
		w.held[0] = nil
		w.held = w.held[1:]
		hdr := headerLen(p)
		if id, ok := publishID(p, hdr); ok {
			w.out[id] = struct{}{}
		}
		ready = append(ready, p)
	}
	return ready
}

// packetSpan returns the total length of the packet at the start of b and
// the length of its fixed header; ok is false if b does not hold a whole,
// well-formed packet.
func packetSpan(b []byte) (n, hdr int, ok bool) {
	var rem, mult int
	for i := 1; i <= 4 && i < len(b); i++ {
		rem |= int(b[i]&0x7f) << mult
		mult += 7
		if b[i]&0x80 == 0 {
			hdr = i + 1
			if hdr+rem > len(b) {
				return 0, 0, false
			}
			return hdr + rem, hdr, true
		}
	}
	return 0, 0, false
}

func headerLen(p []byte) int {
	_, hdr, _ := packetSpan(p)
	return hdr
}

// publishID reads the packet id of a QoS 1/2 PUBLISH packet p whose fixed
// header is hdr bytes long.
func publishID(p []byte, hdr int) (uint16, bool) {
	if hdr+2 > len(p) {
		return 0, false
	}
	at := hdr + 2 + (int(p[hdr])<<8 | int(p[hdr+1]))
	if at+2 > len(p) {
		return 0, false
	}
	return uint16(p[at])<<8 | uint16(p[at+1]), true
}
