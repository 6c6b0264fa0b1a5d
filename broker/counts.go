package broker

import (
	"strings"
	"sync"
	"time"

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

// walkedEvery bounds how often Status walks the state for its in-flight
// and retained figures. The node reads Status at every health probe and
// every look of its elector; a walk over 10,000 sessions copies the
// client list and took a tenth of a new leader's CPU while its clients
// reconnected.
const walkedEvery = time.Second

// walkedCounts are the figures of the last walk, for Status.
type walkedCounts struct {
	mu       sync.Mutex
	at       time.Time
	inflight int64
	retained int
}

// get returns the figures of srv, walking it again if the last walk is
// walkedEvery old.
func (w *walkedCounts) get(srv *mqtt.Server) (inflight int64, retained int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at.IsZero() || time.Since(w.at) >= walkedEvery {
		w.inflight, w.retained = inflightCount(srv), retainedCount(srv)
		w.at = time.Now()
	}
	return w.inflight, w.retained
}
