package broker

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// mochi's own inflight and retained counters are not usable as figures:
// its inflight counter is decremented twice on a session takeover, and its
// retained count includes the $SYS topics it publishes. These count what
// clients see. Both walk the state: for status and scrapes, not hot paths.

func inflightCount(srv *mqtt.Server) int64 {
	var n int64
	for _, cl := range srv.Clients.GetAll() {
		n += int64(cl.State.Inflight.Len())
	}
	return n
}

func retainedCount(srv *mqtt.Server) int {
	n := 0
	for topic := range srv.Topics.Retained.GetAll() {
		if !strings.HasPrefix(topic, "$SYS/") {
			n++
		}
	}
	return n
}
