package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/triadmq/triad/demo"
)

const httpTimeout = 2 * time.Second

var httpClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true}, // each poll stands alone
	Timeout:   httpTimeout,
}

// nodeStatus is the part of a node's GET /status the benchmark reads
// (node.Status, which embeds broker.Status).
type nodeStatus struct {
	Node        string           `json:"node"`
	Role        string           `json:"role"`
	Mode        string           `json:"mode"`
	Serving     bool             `json:"serving"`
	Ready       bool             `json:"ready"`
	Connections int64            `json:"connections"`
	Followers   []followerStatus `json:"followers"` // a full-mode leader's report
}

// followerStatus is a leader's report on one follower's stream.
type followerStatus struct {
	Name      string `json:"name"`
	Lag       uint64 `json:"lag"` // entries behind
	InSync    bool   `json:"in_sync"`
	Connected bool   `json:"connected"`
}

// getStatus GETs http://addr/status.
func getStatus(ctx context.Context, addr string) (nodeStatus, error) {
	var st nodeStatus
	url := "http://" + addr + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close() // read to the end below; a close error adds nothing
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return st, fmt.Errorf("decode %s: %w", url, err)
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return st, fmt.Errorf("read %s: %w", url, err)
	}
	return st, nil
}

// nodeClients is how many MQTT connections one node had at the end of a
// mode's load.
type nodeClients struct {
	Name        string `json:"name"`
	Role        string `json:"role,omitempty"`
	Connections int64  `json:"connections"`
	Error       string `json:"error,omitempty"` // why the count is unknown
}

// countClients asks every node of m for its connection count.
func countClients(ctx context.Context, m *demo.Manifest) []nodeClients {
	out := make([]nodeClients, 0, len(m.Nodes))
	for _, n := range m.Nodes {
		nc := nodeClients{Name: n.Name}
		if st, err := getStatus(ctx, n.HTTP); err != nil {
			nc.Error = err.Error()
		} else {
			nc.Role, nc.Connections = st.Role, st.Connections
		}
		out = append(out, nc)
	}
	return out
}
