package sync

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/triadmq/triad/sync/state"
)

// appendRetained appends one entry of n retained messages of size bytes
// each and waits until it is durable.
func (l *testLeader) appendRetained(t *testing.T, prefix string, n, size int) {
	t.Helper()
	ops := make([]state.Op, n)
	for i := range ops {
		ops[i] = state.Op{Kind: state.OpRetainedPut, Msg: &state.Message{Topic: fmt.Sprintf("%s/%d", prefix, i),
			Payload: bytes.Repeat([]byte{byte('a' + i%26)}, size), Retain: true}}
	}
	idx, err := l.c.Append(ops...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.c.Wait(ctx, idx); err != nil {
		t.Fatal(err)
	}
}

// TestLargeMessagesReplicate: retained messages far above gRPC's default
// 4 MiB message limit in all — in a snapshot, in one live entry, and one
// message of 5 MiB alone — reach the follower: the leader cuts snapshot
// chunks and entry batches by bytes, and a follower accepts a single
// entry of any size.
func TestLargeMessagesReplicate(t *testing.T) {
	l := startLeader(t, "c", 5, 1, 0) // the log keeps 1 entry: what was written before is a snapshot
	l.appendRetained(t, "snap", 5, 1<<20)
	l.appendRetained(t, "pad", 1, 1) // the 5 MiB entry is out of the log now
	f := follow(t, openStore(t, t.TempDir()), l.addr, "c")
	waitApplied(t, f, l.c.Durable())
	l.appendRetained(t, "live", 5, 1<<20) // one entry of 5 MiB
	waitApplied(t, f, l.c.Durable())
	l.appendRetained(t, "one", 1, 5<<20)
	waitApplied(t, f, l.c.Durable())
	sameState(t, l.store, f.store)
}
