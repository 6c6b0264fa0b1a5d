package node

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/triadmq/triad/sync"
)

// protocolOverride, when set at link time, makes this binary speak another
// replication protocol than its release's: "VERSION:MIN", e.g.
//
//	go build -ldflags '-X github.com/triadmq/triad/node.protocolOverride=3:2' ./cmd/triad
//
// It exists for tests of mixed-version clusters (a rolling upgrade run
// with real processes); releases leave it empty.
var protocolOverride string

// replicationProtocol is the protocol range this node's leader and
// follower speak: the release's unless overridden at link time.
func replicationProtocol() (sync.ProtocolRange, error) {
	if protocolOverride == "" {
		return sync.ProtocolRange{}, nil
	}
	v, m, ok := strings.Cut(protocolOverride, ":")
	version, err1 := strconv.ParseUint(v, 10, 32)
	minVersion, err2 := strconv.ParseUint(m, 10, 32)
	if !ok || err1 != nil || err2 != nil || version == 0 || minVersion == 0 || minVersion > version {
		return sync.ProtocolRange{}, fmt.Errorf("node: link-time protocolOverride %q is not VERSION:MIN (1 <= MIN <= VERSION)", protocolOverride)
	}
	return sync.ProtocolRange{Version: uint32(version), Min: uint32(minVersion)}, nil
}
