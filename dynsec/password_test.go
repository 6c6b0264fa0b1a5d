package dynsec

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"io"
	"testing"
)

// The fixture's passwords, from its README.md.
var fixturePasswords = map[string]string{"admin": "adminpass", "alice": "alicepass", "bob": "bobpass", "mallory": "mallorypass"}

func TestPasswordFixtureVerifies(t *testing.T) {
	c := loadFixture(t)
	for user, pass := range fixturePasswords {
		if !c.Clients[user].Password.Verify(pass) {
			t.Errorf("%s: %q does not verify against the hash Mosquitto stored", user, pass)
		}
	}
	for _, tc := range []struct{ user, pass string }{
		{"alice", "adminpass"}, {"alice", ""}, {"alice", "Alicepass"}, {"alice", "alicepass "}, {"alice", "alicepas"},
		{"admin", "alicepass"}, {"admin", "Adminpass"},
	} {
		if c.Clients[tc.user].Password.Verify(tc.pass) {
			t.Errorf("%s: wrong password %q verifies", tc.user, tc.pass)
		}
	}
}

func TestPasswordVerifyUsesStoredParameters(t *testing.T) {
	alice := loadFixture(t).Clients["alice"].Password
	for name, p := range map[string]*Password{
		"nil":              nil,
		"zero iterations":  {Hash: alice.Hash, Salt: alice.Salt, Iterations: 0},
		"other iterations": {Hash: alice.Hash, Salt: alice.Salt, Iterations: alice.Iterations + 1},
		"other salt":       {Hash: alice.Hash, Salt: append([]byte{1}, alice.Salt[1:]...), Iterations: alice.Iterations},
		"no hash":          {Salt: alice.Salt, Iterations: alice.Iterations},
	} {
		if p.Verify("alicepass") {
			t.Errorf("%s: alicepass verifies", name)
		}
	}
}

// With the fixture's salt as its random source, HashPassword must produce
// exactly the hash Mosquitto 2.0.11 stored.
func TestHashPasswordMatchesMosquitto(t *testing.T) {
	c := loadFixture(t)
	for user, pass := range fixturePasswords {
		want := c.Clients[user].Password
		got, err := HashPassword(pass, bytes.NewReader(want.Salt))
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if !bytes.Equal(got.Hash, want.Hash) || !bytes.Equal(got.Salt, want.Salt) || got.Iterations != want.Iterations {
			t.Errorf("%s: HashPassword = %s, want Mosquitto's %s", user,
				base64.StdEncoding.EncodeToString(got.Hash), base64.StdEncoding.EncodeToString(want.Hash))
		}
	}
}

func TestHashPasswordDeterministic(t *testing.T) {
	salt := []byte("0123456789ab")
	rnd := bytes.NewReader(append(salt, "left over"...))
	got, err := HashPassword("p\u00e4ss", rnd)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pbkdf2.Key(sha512.New, "p\u00e4ss", salt, 101, 64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Salt, salt) || !bytes.Equal(got.Hash, want) || got.Iterations != 101 {
		t.Errorf("HashPassword = %+v, want salt %x hash %x iterations 101", got, salt, want)
	}
	if rnd.Len() != len("left over") {
		t.Errorf("HashPassword read %d bytes of randomness, want %d", rnd.Size()-int64(rnd.Len()), SaltBytes)
	}
}

func TestHashPasswordFreshSalt(t *testing.T) {
	a, errA := HashPassword("same", rand.Reader)
	b, errB := HashPassword("same", rand.Reader)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	for _, p := range []*Password{a, b} {
		if len(p.Salt) != 12 || len(p.Hash) != 64 || p.Iterations != 101 {
			t.Errorf("salt %d bytes, hash %d bytes, %d iterations; want 12, 64, 101", len(p.Salt), len(p.Hash), p.Iterations)
		}
		if !p.Verify("same") || p.Verify("Same") {
			t.Error("a fresh hash does not verify its own password only")
		}
	}
	if bytes.Equal(a.Salt, b.Salt) || bytes.Equal(a.Hash, b.Hash) {
		t.Error("two hashes of one password share a salt or hash")
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestHashPasswordReadError(t *testing.T) {
	boom := errors.New("entropy pool on fire")
	for name, tc := range map[string]struct {
		rnd  io.Reader
		want error
	}{
		"reader fails": {failingReader{boom}, boom},
		"reader short": {bytes.NewReader(make([]byte, SaltBytes-1)), io.ErrUnexpectedEOF},
		"reader empty": {bytes.NewReader(nil), io.EOF},
	} {
		p, err := HashPassword("pw", tc.rnd)
		if !errors.Is(err, tc.want) || p != nil {
			t.Errorf("%s: HashPassword = %v, %v; want nil and an error wrapping %v", name, p, err, tc.want)
		}
	}
}
