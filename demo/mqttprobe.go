package demo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// mqttProbeTimeout bounds one ProbeMQTT when ctx has no earlier deadline.
const mqttProbeTimeout = 2 * time.Second

var probeSeq atomic.Uint64

// ProbeMQTT opens a TCP connection to addr, sends an MQTT 3.1.1 CONNECT
// with a clean session and a client id of its own, and succeeds if the
// broker answers with a CONNACK accepting it; it then sends DISCONNECT.
// Through HAProxy this says that a client reaches the leader: HAProxy
// accepts every TCP connection and closes it when no server takes it.
func ProbeMQTT(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, mqttProbeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mqtt probe %s: %w", addr, err)
	}
	defer conn.Close() // the DISCONNECT was the goodbye; a close error says nothing more
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("mqtt probe %s: %w", addr, err)
	}
	id := fmt.Sprintf("triad-demo-probe-%d-%d", os.Getpid(), probeSeq.Add(1))
	if _, err := conn.Write(connectPacket(id)); err != nil {
		return fmt.Errorf("mqtt probe %s: send CONNECT: %w", addr, err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("mqtt probe %s: closed before a CONNACK (no broker behind it?): %w", addr, err)
		}
		return fmt.Errorf("mqtt probe %s: read CONNACK: %w", addr, err)
	}
	// [MQTT-3.2.2]: type 2, remaining length 2, flags, return code 0 = accepted.
	if ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0 {
		return fmt.Errorf("mqtt probe %s: CONNACK % x, want 20 02 xx 00 (accepted)", addr, ack)
	}
	if _, err := conn.Write([]byte{0xe0, 0}); err != nil { // DISCONNECT [MQTT-3.14]
		return fmt.Errorf("mqtt probe %s: send DISCONNECT: %w", addr, err)
	}
	return nil
}

// connectPacket encodes an MQTT 3.1.1 CONNECT with a clean session, a 30s
// keepalive and client id (under 100 bytes, so the remaining length fits
// in one byte).
func connectPacket(id string) []byte {
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30} // [MQTT-3.1.2]: level 4, clean session
	payload := binary.BigEndian.AppendUint16(nil, uint16(len(id)))
	payload = append(payload, id...)
	pk := []byte{0x10, byte(len(vh) + len(payload))}
	return append(append(pk, vh...), payload...)
}
