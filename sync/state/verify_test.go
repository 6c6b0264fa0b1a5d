package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// filledStore returns the directory of a closed store holding enough
// sessions to span many pages.
func filledStore(t *testing.T) string {
	t.Helper()
	s, dir := newStore(t)
	var ops []Op
	for i := range 2000 {
		ops = append(ops, putSession(fmt.Sprintf("client-%05d", i)))
	}
	mustApply(t, s, ops)
	closeStore(t, s)
	return dir
}

// overwrite writes junk over n bytes of the state file at off.
func overwrite(t *testing.T, dir string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(junk, off); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesCorruptFiles(t *testing.T) {
	opts := Options{LockTimeout: testLockTimeout, Verify: true}
	t.Run("intact", func(t *testing.T) {
		dir := filledStore(t)
		s, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("an intact file: %v", err)
		}
		closeStore(t, s)
	})
	t.Run("both meta pages", func(t *testing.T) {
		dir := filledStore(t)
		overwrite(t, dir, 16, 64)
		overwrite(t, dir, 4096+16, 64)
		_, err := Open(dir, Options{LockTimeout: testLockTimeout}) // refused even without Verify
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("want ErrCorrupt, got %v", err)
		}
	})
	t.Run("a data page", func(t *testing.T) {
		dir := filledStore(t)
		st, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(4 * 4096); off < st.Size(); off += 4096 {
			overwrite(t, dir, off, 16) // every page header past the metas and freelist
		}
		_, err = Open(dir, opts)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("want ErrCorrupt, got %v", err)
		}
	})
}

func TestQuarantine(t *testing.T) {
	dir := filledStore(t)
	now := time.Date(2026, 11, 29, 19, 30, 0, 0, time.UTC)
	s := openStore(t, dir)
	if _, err := Quarantine(dir, now); !errors.Is(err, ErrInUse) {
		t.Fatalf("while the store is open: want ErrInUse, got %v", err)
	}
	closeStore(t, s)
	to, err := Quarantine(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "state.db.corrupt-20261129T193000Z"); to != want {
		t.Fatalf("moved to %s, want %s", to, want)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the state file is still there: %v", err)
	}
	if to, err := Quarantine(dir, now); to != "" || err != nil {
		t.Fatalf("with no state file: got %q, %v; want nothing done", to, err)
	}
	s = openStore(t, dir) // a new, empty store
	if s.Applied() != 0 {
		t.Fatalf("the new store has applied %d", s.Applied())
	}
}
