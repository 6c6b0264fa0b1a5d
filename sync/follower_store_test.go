package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/triadmq/triad/sync/state"
)

// TestFollowerReportsDiskFailuresOnly: OnStore hears of writes that failed
// on the disk and of the next success, not of the stream's own faults.
func TestFollowerReportsDiskFailuresOnly(t *testing.T) {
	var got []error
	f := &Follower{OnStore: func(err error) { got = append(got, err) }}
	full := fmt.Errorf("state: apply: %w", &fs.PathError{Op: "write", Path: "state.db", Err: syscall.ENOSPC})
	stale := fmt.Errorf("state: apply: %w", state.ErrOutOfOrder)
	for _, err := range []error{full, stale, nil} {
		if r := f.stored(err); r != err {
			t.Fatalf("stored(%v) returned %v", err, r)
		}
	}
	if len(got) != 2 || !errors.Is(got[0], syscall.ENOSPC) || got[1] != nil {
		t.Fatalf("OnStore heard %v; want the disk error, then nil", got)
	}
}
