package node

import (
	"encoding/json"
	"net/http"

	"github.com/triadmq/triad/sync/state"
)

// handleDigest answers GET /state/digest with the digest of this node's
// state (state.Digest: applied index, epoch, record count, SHA-256). Nodes
// at the same applied index must show the same digest; it reads the whole
// state, so it is for checks, not for frequent polling.
func (n *Node) handleDigest(w http.ResponseWriter, _ *http.Request) {
	var (
		d   state.Digest
		err error
	)
	switch b := n.broker(); {
	case n.store != nil:
		d, err = n.store.Digest()
	case b != nil:
		d, err = b.Digest()
	default:
		http.Error(w, "no state is open on this node", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		n.log.Warn("state digest", "error", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(d); err != nil {
		n.log.Debug("write state digest", "error", err)
	}
}
