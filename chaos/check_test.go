package chaos

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// hist builds histories for the checker's tests.
type hist struct{ r Recorder }

func (h *hist) pub(client, node string, seq int, qos byte, start, end int, ok bool) {
	h.r.Add(Op{Kind: Publish, Client: client, Node: node, Topic: "t", Publisher: client, Seq: seq, QoS: qos, Start: at(start), End: at(end), OK: ok})
}

func (h *hist) del(sub, pub string, seq int, qos byte, ms int) {
	h.r.Add(Op{Kind: Deliver, Client: sub, Topic: "t", Publisher: pub, Seq: seq, QoS: qos, Start: at(ms), End: at(ms), OK: true})
}

func (h *hist) conn(client, node string, start, end int, ok bool) {
	h.r.Add(Op{Kind: Connect, Client: client, Node: node, Start: at(start), End: at(end), OK: ok})
}

var (
	oneWindow = []Window{{Name: "w", Start: at(0), End: at(10_000)}}
	twoLeads  = []Leadership{{1, "n1", at(-1000)}, {2, "n2", at(5000)}}
)

func check(h *hist, subs ...string) Row {
	rows := Check(h.r.Ops(), subs, twoLeads, oneWindow)
	return rows[0]
}

func TestCheckCleanHistory(t *testing.T) {
	var h hist
	h.conn("p", "n1", 0, 5, true)
	h.pub("p", "n1", 1, 2, 10, 20, true)
	h.pub("p", "", 2, 1, 30, 40, true)
	h.pub("p", "", 3, 1, 50, 60, false) // not acknowledged: may be missing
	h.del("s1", "p", 1, 2, 25)
	h.del("s1", "p", 2, 1, 45)
	h.del("s1", "p", 2, 1, 46) // QoS 1 may come twice
	h.del("s2", "p", 1, 2, 26)
	h.del("s2", "p", 2, 1, 47)
	r := check(&h, "s1", "s2")
	if r.Violations() != 0 || r.Acked != 2 || r.Operations != 9 {
		t.Fatalf("want a clean row with 2 acked of 9 operations, got %+v", r)
	}
}

func TestCheckLost(t *testing.T) {
	var h hist
	h.pub("p", "", 1, 1, 10, 20, true)
	h.del("s1", "p", 1, 1, 25)
	r := check(&h, "s1", "s2")
	if r.Lost != 1 || !strings.Contains(r.Examples[0], "[s2]") {
		t.Fatalf("want p#1 lost at s2, got %+v", r)
	}
}

func TestCheckQoS2Duplicate(t *testing.T) {
	var h hist
	h.pub("p", "", 1, 2, 10, 20, true)
	h.del("s1", "p", 1, 2, 25)
	h.del("s1", "p", 1, 2, 35)
	if r := check(&h, "s1"); r.Duplicated != 1 {
		t.Fatalf("want one duplicate, got %+v", r)
	}
}

func TestCheckOrder(t *testing.T) {
	var h hist
	for i := 1; i <= 3; i++ {
		h.pub("p", "", i, 1, i*10, i*10+5, true)
	}
	h.del("s1", "p", 1, 1, 100)
	h.del("s1", "p", 3, 1, 101)
	h.del("s1", "p", 2, 1, 102) // after #3
	h.del("s1", "p", 1, 1, 103) // a redelivery: not an order violation
	if r := check(&h, "s1"); r.OutOfOrder != 1 || r.Lost != 0 {
		t.Fatalf("want one out of order (p#2), got %+v", r)
	}
}

func TestCheckSplitBrain(t *testing.T) {
	var h hist
	h.conn("a", "n1", 4000, 4990, true)  // n1 led: fine
	h.conn("b", "n1", 4900, 5100, true)  // straddles the change: fine
	h.conn("c", "n1", 5200, 5300, true)  // n2 leads since 5000: split brain
	h.conn("d", "n1", 5200, 5300, false) // refused: fine
	h.conn("e", "n2", 4000, 4100, true)  // n2 before its epoch: split brain
	h.pub("c", "n1", 1, 1, 6000, 6100, true)
	h.del("s1", "c", 1, 1, 6050)
	r := check(&h, "s1")
	if r.SplitBrain != 3 {
		t.Fatalf("want 3 operations served outside their node's leadership, got %+v", r)
	}
}

func TestCheckUnavailability(t *testing.T) {
	var h hist
	h.pub("p", "", 1, 1, 0, 1000, true)
	h.pub("p", "", 2, 1, 1000, 4500, true) // a 3.5s wait
	h.pub("p", "", 3, 1, 4500, 9000, false)
	for i := 1; i <= 2; i++ {
		h.del("s", "p", i, 1, 5000)
	}
	r := check(&h, "s")
	if r.LongestUnavailable != 5500*time.Millisecond { // the last ack to the window's end
		t.Fatalf("longest unavailability %v, want 5.5s", r.LongestUnavailable)
	}
}

func TestCheckWindowsAndTotal(t *testing.T) {
	var h hist
	h.pub("p", "", 1, 1, 0, 100, true)  // w1
	h.pub("p", "", 2, 1, 0, 1500, true) // w2, lost
	h.pub("p", "", 3, 1, 0, 2500, true) // outside
	h.del("s", "p", 1, 1, 200)
	h.del("s", "p", 3, 1, 2600)
	ws := []Window{{"w1", at(0), at(1000)}, {"w2", at(1000), at(2000)}}
	rows := Check(h.r.Ops(), []string{"s"}, twoLeads, ws)
	if len(rows) != 4 || rows[2].Scenario != Outside || rows[3].Scenario != "total" {
		t.Fatalf("want w1, w2, outside, total; got %+v", rows)
	}
	if rows[0].Lost != 0 || rows[1].Lost != 1 || rows[3].Lost != 1 || rows[3].Acked != 3 || rows[3].Operations != 5 {
		t.Fatalf("lost counted in the wrong window: %+v", rows)
	}
	got := Summary(2, rows[3])
	if want := "scenarios=2 operations=5 lost=1 duplicated=0 split_brain=0 out_of_order=0"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	if tab := Table(rows); !strings.Contains(tab, "w2: lost: p#2") {
		t.Fatalf("the table does not show the lost message:\n%s", tab)
	}
}

// TestCheckQoS2Redelivery: a QoS 2 message received again with DUP and the
// same packet id is the sender's redelivery, which an MQTT receiver
// suppresses; again without DUP, or under another id, it is a duplicate.
func TestCheckQoS2Redelivery(t *testing.T) {
	del := func(h *hist, id uint16, dup bool, ms int) {
		h.r.Add(Op{Kind: Deliver, Client: "s", Topic: "t", Publisher: "p", Seq: 1, QoS: 2, Start: at(ms), End: at(ms), OK: true, PacketID: id, Dup: dup})
	}
	for _, tc := range []struct {
		name              string
		id2               uint16
		dup2              bool
		wantDup, wantRedo int
	}{
		{"DUP of the same id", 7, true, 0, 1},
		{"same id without DUP", 7, false, 1, 0},
		{"DUP under another id", 8, true, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h hist
			h.pub("p", "", 1, 2, 0, 10, true)
			del(&h, 7, false, 20)
			del(&h, tc.id2, tc.dup2, 30)
			r := check(&h, "s")
			if r.Duplicated != tc.wantDup || r.Redelivered != tc.wantRedo {
				t.Fatalf("duplicated %d, redelivered %d; want %d, %d", r.Duplicated, r.Redelivered, tc.wantDup, tc.wantRedo)
			}
		})
	}
}
