package node

import (
	"log/slog"
	gosync "sync"

	"github.com/triadmq/triad/internal/fsutil"
)

// dynsecMirror keeps dynsec.file equal to the replicated dynamic-security
// configuration on every node, leader or follower, as Mosquitto keeps its
// plugin file: for backups, `triad dynsec export`, and to seed a cluster
// rebuilt from scratch. Only durable configurations are written, newest
// index wins, and the file is private (it holds password hashes).
type dynsecMirror struct {
	path string
	log  *slog.Logger

	mu  gosync.Mutex
	idx uint64 // index of the configuration in the file
}

// write replaces the file with the configuration recorded at idx, unless
// a newer one is already there.
func (m *dynsecMirror) write(idx uint64, file []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if idx <= m.idx {
		return
	}
	if err := fsutil.WriteFileDurable(m.path, file, 0o600); err != nil {
		m.log.Error("dynamic-security file not updated", "file", m.path, "index", idx, "error", err)
		return
	}
	m.idx = idx
}
