package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrInUse is returned by Quarantine when a process holds the state file
// open (bbolt's lock): the node is running.
var ErrInUse = errors.New("state file is in use (is triad running?)")

// Quarantine moves the state file in dir aside, to state.db.corrupt-<UTC
// time>, so that the node starts empty and is re-seeded by the leader; the
// old file is kept for examination. It refuses while a process holds the
// file's lock. It returns the new path, or "" if dir holds no state file.
func Quarantine(dir string, now time.Time) (string, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state: %w", err)
	}
	defer f.Close()
	// bbolt locks its file with flock: exclusive for a writer.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return "", fmt.Errorf("state: %s: %w", path, ErrInUse)
		}
		return "", fmt.Errorf("state: lock %s: %w", path, err)
	}
	to := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return to, fmt.Errorf("state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return to, fmt.Errorf("state: sync %s: %w", dir, err)
	}
	return to, nil
}
