package broker

import (
	"context"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/triadmq/triad/sync/state"
)

// expireLoop drops expired queued messages and retained messages once a
// second until ctx ends. mochi expires only those published with MQTT 5;
// Triad's message_expiry applies to every message (OnPublish sets Expiry).
func (h *persistHook) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.expire(now.Unix())
		}
	}
}

func (h *persistHook) expire(now int64) {
	for _, cl := range h.srv.Clients.GetAll() {
		for _, tk := range cl.State.Inflight.GetAll(false) {
			if tk.FixedHeader.Type != packets.Publish || tk.Expiry <= 0 || tk.Expiry >= now {
				continue
			}
			if cl.State.Inflight.Delete(tk.PacketID) && h.deliveryDone(cl, tk.PacketID) {
				h.m.messagesDropped.WithLabelValues("expired").Inc()
			}
		}
	}
	for topic, pk := range h.srv.Topics.Retained.GetAll() {
		if pk.Expiry > 0 && pk.Expiry < now && !strings.HasPrefix(topic, "$SYS/") {
			h.srv.Topics.Retained.Delete(topic)
			h.appendOps(state.Op{Kind: state.OpRetainedDelete, Topic: topic})
		}
	}
}
