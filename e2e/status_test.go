package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// nodeStatus is the part of GET /status the tests read.
type nodeStatus struct {
	Node          string            `json:"node"`
	Role          string            `json:"role"`
	Version       string            `json:"version"`
	Healthy       bool              `json:"healthy"`
	Connections   int64             `json:"connections"`
	Sessions      int               `json:"sessions"`
	Subscriptions int64             `json:"subscriptions"`
	Retained      int               `json:"retained"`
	Inflight      int64             `json:"inflight"`
	AppliedIndex  uint64            `json:"applied_index"`
	Listeners     map[string]string `json:"listeners"`
}

func getStatus(httpAddr string) (nodeStatus, error) {
	var st nodeStatus
	resp, err := http.Get("http://" + httpAddr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}
