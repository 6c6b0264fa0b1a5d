package node

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/triadmq/triad/broker"
	"github.com/triadmq/triad/version"
)

// Status is the JSON of GET /status.
type Status struct {
	Node          string            `json:"node"`
	Role          string            `json:"role"`
	Version       string            `json:"version"`
	Healthy       bool              `json:"healthy"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	Listeners     map[string]string `json:"listeners"`
	broker.Status
}

// handler serves the read-only endpoints. None of them changes anything.
func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", n.handleHealth)
	mux.HandleFunc("GET /status", n.handleStatus)
	mux.Handle("GET /metrics", n.b.MetricsHandler())
	return mux
}

func (n *Node) healthy() bool {
	return !n.stopping.Load() && !n.b.Status().StoreFailed
}

// handleHealth answers 200 while the node serves MQTT, 503 otherwise.
func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !n.healthy() {
		http.Error(w, "unavailable\n", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := w.Write([]byte("ok\n")); err != nil {
		n.log.Debug("write /health", "error", err)
	}
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	bs := n.b.Status()
	st := Status{
		Node:      n.cfg.Node.Name,
		Role:      "standalone",
		Version:   version.Version,
		Healthy:   n.healthy(),
		Listeners: n.b.ListenerAddrs(),
		Status:    bs,
	}
	if !bs.Started.IsZero() {
		st.UptimeSeconds = int64(time.Since(bs.Started) / time.Second)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		n.log.Debug("write /status", "error", err)
	}
}
