package node

import (
	"testing"

	"github.com/triadmq/triad/sync"
)

func TestReplicationProtocolOverride(t *testing.T) {
	defer func(v string) { protocolOverride = v }(protocolOverride)
	for _, c := range []struct {
		in   string
		want sync.ProtocolRange
		bad  bool
	}{
		{in: "", want: sync.ProtocolRange{}},
		{in: "3:2", want: sync.ProtocolRange{Version: 3, Min: 2}},
		{in: "3", bad: true},
		{in: "2:3", bad: true},
		{in: "0:0", bad: true},
		{in: "x:1", bad: true},
	} {
		protocolOverride = c.in
		got, err := replicationProtocol()
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%q: got %v, %v; want %v (error %v)", c.in, got, err, c.want, c.bad)
		}
	}
}
