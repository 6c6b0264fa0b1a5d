package state

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrCorrupt marks a state file that cannot be trusted: bbolt found its
// meta pages invalid, or the walk of Options.Verify reached a damaged page.
// Nothing in it is used; a cluster node is re-seeded from the leader
// instead (triadctl reinit).
var ErrCorrupt = errors.New("state file is corrupt")

// corruptOpen says whether err, from bolt.Open, means a damaged file.
func corruptOpen(err error) bool {
	return errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch)
}

// verifyFile opens the file at path read-only and walks every bucket and
// key, so that every branch and leaf page in use is read and checked (its
// header must name the page it is). bbolt panics on a damaged page; the
// walk runs on this goroutine so that the panic is caught and reported as
// ErrCorrupt. It does not use bbolt's Tx.Check: with the free list not
// synced (NoFreelistSync) that rebuilds the free list on a goroutine of
// its own, whose panic would end the process. bbolt keeps no checksums of
// data pages: damage inside a value is not seen.
func verifyFile(path string, lockTimeout time.Duration) (err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil // a new node: nothing to verify
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		if corruptOpen(err) {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close after the check: %w", cerr)
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: a damaged page: %v", ErrCorrupt, r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	})
}

func walk(b *bolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			continue
		}
		if nested := b.Bucket(k); nested != nil {
			if err := walk(nested); err != nil {
				return err
			}
		}
	}
	return nil
}
