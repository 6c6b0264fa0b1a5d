package dynsec

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"io"
)

// Mosquitto's parameters for a newly set password: PBKDF2-HMAC-SHA512,
// 12 random bytes of salt, 101 iterations, a 64-byte key.
const (
	SaltBytes         = 12
	HashBytes         = 64
	DefaultIterations = 101
)

// HashPassword hashes password with a fresh salt read from rnd
// (crypto/rand.Reader outside tests).
func HashPassword(password string, rnd io.Reader) (*Password, error) {
	salt := make([]byte, SaltBytes)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return nil, fmt.Errorf("dynsec: password salt: %w", err)
	}
	hash, err := pbkdf2.Key(sha512.New, password, salt, DefaultIterations, HashBytes)
	if err != nil {
		return nil, fmt.Errorf("dynsec: hash password: %w", err)
	}
	return &Password{Hash: hash, Salt: salt, Iterations: DefaultIterations}, nil
}

// Verify reports whether password matches p, in constant time for a
// given hash length. A nil p matches nothing.
func (p *Password) Verify(password string) bool {
	if p == nil || p.Iterations < 1 || len(p.Hash) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, password, p.Salt, p.Iterations, len(p.Hash))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, p.Hash) == 1
}
