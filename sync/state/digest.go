package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Digest identifies a state: two stores with the same digest hold the
// same sessions, subscriptions, messages, deliveries, inbound QoS 2 state
// and retained messages, at the same applied index. Replication makes every
// node's state a prefix of the leader's, so nodes at the same index must
// have the same digest; one that differs has diverged.
type Digest struct {
	Applied uint64 `json:"applied"`
	Epoch   int64  `json:"epoch"`   // of the entry at Applied
	Records int    `json:"records"` // records hashed
	SHA256  string `json:"sha256"`  // over every bucket's keys and values, in order
}

// Digest hashes the whole state in one read transaction. It reads every
// record: O(state), for tests and occasional operator checks.
func (s *Store) Digest() (Digest, error) {
	var d Digest
	err := s.db.View(func(tx *bolt.Tx) error {
		h := sha256.New()
		field := func(b []byte) {
			var n [binary.MaxVarintLen64]byte
			h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
			h.Write(b)
		}
		for _, name := range allBuckets {
			b := tx.Bucket(name)
			if b == nil {
				return fmt.Errorf("bucket %s missing", name)
			}
			field(name)
			err := b.ForEach(func(k, v []byte) error {
				if bytes.Equal(name, bucketMeta) && bytes.Equal(k, keyFormat) {
					return nil // how this build writes, not what the state is
				}
				field(k)
				field(v)
				d.Records++
				return nil
			})
			if err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		var err error
		if v := meta.Get(keyApplied); v != nil {
			if d.Applied, err = u64(v); err != nil {
				return err
			}
		}
		if v := meta.Get(keyEpoch); v != nil {
			e, err := u64(v)
			if err != nil {
				return err
			}
			d.Epoch = int64(e)
		}
		d.SHA256 = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return Digest{}, fmt.Errorf("state: digest: %w", err)
	}
	return d, nil
}
