package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrOutOfOrder is returned by Apply when an entry's index does not follow
// the applied index.
var ErrOutOfOrder = errors.New("state: entry out of order")

// Entry is one atomic unit of change: its ops are applied together, and the
// applied index becomes Index in the same transaction. Epoch is the epoch
// of the leader that wrote it (0 on a standalone node).
type Entry struct {
	Index uint64
	Epoch int64
	Ops   []Op
}

// Options tune the store.
type Options struct {
	// NoSync skips fsync on commit. Unsafe: a power loss may lose
	// acknowledged data. For benchmarks only.
	NoSync bool
	// LockTimeout bounds the wait for the data file's lock (another process
	// using the same data directory). Default 2s.
	LockTimeout time.Duration
	// Verify reads every page in use before the file is opened for
	// writing: a damaged file is refused (ErrCorrupt) rather than served
	// from. About a second per GiB.
	Verify bool
}

// Store is the bbolt-backed state. Apply is the only way to change it; it
// is safe for one writer and any number of concurrent readers.
type Store struct {
	db           *bolt.DB
	applied      uint64 // guarded by the single-writer contract of Apply
	appliedEpoch int64  // epoch of the entry at applied
	msgSeq       uint64
}

// FileName is the state file inside the node's data directory.
const FileName = "state.db"

// Open opens (or creates) the state file under dir.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state: create data dir %q: %w", dir, err)
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 2 * time.Second
	}
	path := filepath.Join(dir, FileName)
	if opts.Verify {
		err := verifyFile(path, opts.LockTimeout)
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("state: %s is locked by another process (is another triad using data_dir %q?): %w", path, dir, err)
		}
		if err != nil {
			return nil, fmt.Errorf("state: %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoSync:         opts.NoSync,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Address space only: the file does not grow with it. It spares
		// remapping while a snapshot installs (~0.5 s per 100k sessions)
		// and keeps long read transactions (a leader sending a snapshot)
		// from blocking the writer's remaps.
		InitialMmapSize: 1 << 30,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("state: %s is locked by another process (is another triad using data_dir %q?): %w", path, dir, err)
	}
	if err != nil && corruptOpen(err) {
		return nil, fmt.Errorf("state: %s: %w: %w", path, ErrCorrupt, err)
	}
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.init(); err != nil {
		return nil, errors.Join(fmt.Errorf("state: %s: %w", path, err), db.Close())
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		legacyRouted := tx.Bucket(bucketRouted) == nil && tx.Bucket(bucketMsgs) != nil
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		if legacyRouted {
			if err := moveRoutedFlags(tx); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch f := meta.Get(keyFormat); {
		case f == nil:
			if err := meta.Put(keyFormat, []byte(formatVersion)); err != nil {
				return fmt.Errorf("write format: %w", err)
			}
		case string(f) != formatVersion:
			return fmt.Errorf("unsupported state format %q (this build reads %q)", f, formatVersion)
		}
		var err error
		if v := meta.Get(keyApplied); v != nil {
			if s.applied, err = u64(v); err != nil {
				return err
			}
		}
		if v := meta.Get(keyMsgSeq); v != nil {
			if s.msgSeq, err = u64(v); err != nil {
				return err
			}
		}
		if v := meta.Get(keyEpoch); v != nil {
			e, err := u64(v)
			if err != nil {
				return err
			}
			s.appliedEpoch = int64(e)
		}
		return nil
	})
}

// Close closes the file. No Apply may run concurrently.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state: close: %w", err)
	}
	return nil
}

// Applied is the index of the last applied entry. Writer goroutine only.
func (s *Store) Applied() uint64 { return s.applied }

// AppliedEpoch is the epoch of the entry at Applied. Writer goroutine only.
func (s *Store) AppliedEpoch() int64 { return s.appliedEpoch }

// MsgSeq is the highest message id ever accepted. Writer goroutine only.
func (s *Store) MsgSeq() uint64 { return s.msgSeq }

// Apply applies entries in one transaction and makes them durable (unless
// NoSync). Entries must continue the applied index without gaps. On error
// nothing of the batch is applied.
func (s *Store) Apply(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	applied, epoch, seq := s.applied, s.appliedEpoch, s.msgSeq
	err := s.db.Update(func(tx *bolt.Tx) error {
		a := applier{tx: tx, msgSeq: seq}
		for _, e := range entries {
			if e.Index != applied+1 {
				return fmt.Errorf("%w: got %d after %d", ErrOutOfOrder, e.Index, applied)
			}
			if e.Epoch < epoch {
				return fmt.Errorf("%w: entry %d has epoch %d, below %d", ErrStaleEpoch, e.Index, e.Epoch, epoch)
			}
			for i := range e.Ops {
				if err := a.apply(&e.Ops[i]); err != nil {
					return fmt.Errorf("entry %d op %d (%s): %w", e.Index, i, e.Ops[i].Kind, err)
				}
			}
			applied, epoch = e.Index, e.Epoch
		}
		seq = a.msgSeq
		return writeMeta(tx, applied, epoch, seq)
	})
	if err != nil {
		return fmt.Errorf("state: apply: %w", err)
	}
	s.applied, s.appliedEpoch, s.msgSeq = applied, epoch, seq
	return nil
}

// ErrStaleEpoch is returned by Apply for an entry of an epoch below the
// one of the entry before it: a deposed leader's.
var ErrStaleEpoch = errors.New("state: entry from a stale epoch")

func writeMeta(tx *bolt.Tx, applied uint64, epoch int64, seq uint64) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyApplied, msgKey(applied)); err != nil {
		return fmt.Errorf("write applied index: %w", err)
	}
	if err := meta.Put(keyEpoch, msgKey(uint64(epoch))); err != nil {
		return fmt.Errorf("write applied epoch: %w", err)
	}
	return meta.Put(keyMsgSeq, msgKey(seq))
}

// Replace discards the whole state and puts in its place the state that
// ops build (a snapshot from the leader, as Snapshot.Ops gives), standing
// at entry index of epoch, in one transaction.
func (s *Store) Replace(index uint64, epoch int64, msgSeq uint64, ops []Op) error {
	var seq uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if bytes.Equal(b, bucketMeta) {
				continue
			}
			if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return fmt.Errorf("drop bucket %s: %w", b, err)
			}
			nb, err := tx.CreateBucket(b)
			if err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
			nb.FillPercent = 0.95 // snapshot ops come in key order: pack the pages
		}
		a := applier{tx: tx, msgSeq: msgSeq}
		for i := range ops {
			if err := a.apply(&ops[i]); err != nil {
				return fmt.Errorf("snapshot op %d (%s): %w", i, ops[i].Kind, err)
			}
		}
		seq = max(msgSeq, a.msgSeq)
		return writeMeta(tx, index, epoch, seq)
	})
	if err != nil {
		return fmt.Errorf("state: replace: %w", err)
	}
	// Exactly what was written: the ids this node drew past the snapshot
	// (a deposed leader's unreplicated tail) were never acknowledged, and
	// keeping them would make its state differ from the others'.
	s.applied, s.appliedEpoch, s.msgSeq = index, epoch, seq
	return nil
}

// Snapshot is the whole state, read in one consistent transaction.
type Snapshot struct {
	Applied      uint64
	AppliedEpoch int64 // epoch of the entry at Applied
	MsgSeq       uint64
	Sessions     []Session
	Subs         []Subscription
	Msgs         map[uint64]*Message
	Deliveries   []Delivery
	Inbound      []Inbound
	Retained     []Message
	Dynsec       []byte // the dynamic-security configuration; nil when never set
}

// Load reads the whole state.
func (s *Store) Load() (*Snapshot, error) {
	snap := &Snapshot{Msgs: map[uint64]*Message{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var err error
		if v := meta.Get(keyApplied); v != nil {
			if snap.Applied, err = u64(v); err != nil {
				return err
			}
		}
		if v := meta.Get(keyMsgSeq); v != nil {
			if snap.MsgSeq, err = u64(v); err != nil {
				return err
			}
		}
		if v := meta.Get(keyEpoch); v != nil {
			e, err := u64(v)
			if err != nil {
				return err
			}
			snap.AppliedEpoch = int64(e)
		}
		if err := loadAll(tx.Bucket(bucketSessions), &snap.Sessions); err != nil {
			return fmt.Errorf("sessions: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketSubs), &snap.Subs); err != nil {
			return fmt.Errorf("subscriptions: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketDeliv), &snap.Deliveries); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketInbound), &snap.Inbound); err != nil {
			return fmt.Errorf("inbound: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketRetained), &snap.Retained); err != nil {
			return fmt.Errorf("retained: %w", err)
		}
		var msgs []Message
		if err := loadAll(tx.Bucket(bucketMsgs), &msgs); err != nil {
			return fmt.Errorf("messages: %w", err)
		}
		if v := tx.Bucket(bucketDynsec).Get(keyDynsec); v != nil {
			snap.Dynsec = bytes.Clone(v)
		}
		routed := tx.Bucket(bucketRouted)
		for i := range msgs {
			msgs[i].Routed = has(routed, msgKey(msgs[i].ID))
			snap.Msgs[msgs[i].ID] = &msgs[i]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: load: %w", err)
	}
	return snap, nil
}

func loadAll[T any](b *bolt.Bucket, out *[]T) error {
	return b.ForEach(func(k, v []byte) error {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		*out = append(*out, rec)
		return nil
	})
}

// hasPrefix reports whether bucket b holds any key starting with prefix.
// has reports whether b holds key. Not Get(key) != nil: the flags and
// references are stored with empty values, and bbolt's Get returns nil for
// an empty value written in the same transaction but an empty non-nil
// slice once it was committed, so Get would answer by transaction
// boundaries — which differ between a leader's group commits and a
// follower's batches, and made their states diverge.
func has(b *bolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return bytes.Equal(k, key)
}

func hasPrefix(b *bolt.Bucket, prefix []byte) bool {
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// moveRoutedFlags upgrades a file written before the routed bucket: the
// flag was kept in each message's record.
func moveRoutedFlags(tx *bolt.Tx) error {
	routed := tx.Bucket(bucketRouted)
	return tx.Bucket(bucketMsgs).ForEach(func(k, v []byte) error {
		var m struct {
			Routed bool `json:"rd"`
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("message %x: %w", k, err)
		}
		if !m.Routed {
			return nil
		}
		return routed.Put(bytes.Clone(k), nil)
	})
}
