package broker

import (
	"errors"
	"fmt"
)

// ErrMalformedLength is what a connection fails with when a client sends a
// Remaining Length longer than the four bytes MQTT allows (3.1.1 §2.2.3,
// MQTT 5 §1.5.5). mochi's decoder accepts any number of continuation bytes.
var ErrMalformedLength = errors.New("malformed packet: remaining length longer than 4 bytes")

// inFramer follows the packet boundaries of what a client sends, without
// copying it: it rejects a malformed Remaining Length before mochi reads it,
// and reports the acknowledgements that free the outbound window.
type inFramer struct {
	state    uint8  // frameType, frameLength or frameBody
	typ      uint8  // packet type of the current packet
	lenBytes uint8  // Remaining Length bytes read so far
	rem      uint32 // Remaining Length (while frameLength: decoded so far)
	pos      uint32 // body bytes read so far
	head     [3]byte
}

const (
	frameType = iota
	frameLength
	frameBody
)

// feed consumes p; ack is called for each complete PUBACK, PUBCOMP and
// PUBREC with its packet id and reason code (0 when absent).
func (f *inFramer) feed(p []byte, ack func(typ uint8, id uint16, reason byte)) error {
	for i := 0; i < len(p); {
		switch f.state {
		case frameType:
			f.typ, f.lenBytes, f.rem, f.pos = p[i]>>4, 0, 0, 0
			f.state = frameLength
			i++
		case frameLength:
			b := p[i]
			i++
			f.rem |= uint32(b&0x7f) << (7 * f.lenBytes)
			f.lenBytes++
			if b&0x80 != 0 {
				if f.lenBytes == 4 {
					return fmt.Errorf("%w (packet type %d)", ErrMalformedLength, f.typ)
				}
				continue
			}
			f.state = frameBody
			if f.rem == 0 {
				f.done(ack)
			}
		case frameBody:
			n := min(uint32(len(p)-i), f.rem-f.pos)
			for k := f.pos; k < f.pos+n && k < uint32(len(f.head)); k++ {
				f.head[k] = p[i+int(k-f.pos)]
			}
			f.pos += n
			i += int(n)
			if f.pos == f.rem {
				f.done(ack)
			}
		}
	}
	return nil
}

func (f *inFramer) done(ack func(typ uint8, id uint16, reason byte)) {
	f.state = frameType
	switch f.typ {
	case typePuback, typePubrec, typePubcomp:
		if f.rem < 2 {
			return
		}
		var reason byte
		if f.rem >= 3 {
			reason = f.head[2]
		}
		ack(f.typ, uint16(f.head[0])<<8|uint16(f.head[1]), reason)
	}
}

// freesWindow tells whether an acknowledgement ends an outbound exchange
// for flow control: PUBACK, PUBCOMP, or PUBREC with an error (MQTT 5 §4.9).
func freesWindow(typ uint8, reason byte) bool {
	return typ == typePuback || typ == typePubcomp || (typ == typePubrec && reason >= 0x80)
}
