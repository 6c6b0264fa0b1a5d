package stamp

import (
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	sent := time.Unix(1700000000, 123456789)
	b := Encode(256, sent, 4242)
	if len(b) != 256 {
		t.Fatalf("len = %d, want 256", len(b))
	}
	got, seq, ok := Decode(b)
	if !ok || !got.Equal(sent) || seq != 4242 {
		t.Fatalf("decode = %v %d %v, want %v 4242 true", got, seq, ok, sent)
	}
	if _, _, ok := Decode(b[:HeaderLen-1]); ok {
		t.Fatal("short payload decoded as ok")
	}
}
