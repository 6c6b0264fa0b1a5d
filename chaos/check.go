package chaos

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Row is what the checker found in one scenario's window.
type Row struct {
	Scenario    string
	Operations  int // every operation that ended in the window
	Acked       int // publishes acknowledged
	Lost        int // acknowledged messages missing at some persistent subscriber
	Duplicated  int // QoS 2 messages received more than once by a subscriber
	Redelivered int // QoS 2 messages received again as a DUP of the same packet id (suppressed, not a duplicate)
	OutOfOrder  int // acknowledged messages a subscriber first received after a later one of the same publisher and topic
	SplitBrain  int // operations a node served while, all along, another node held leadership
	// LongestUnavailable is the longest stretch of the window in which no
	// publish was acknowledged.
	LongestUnavailable time.Duration
	Examples           []string // the first few violations, for the report
}

// Violations is the number of broken guarantees in the row.
func (r Row) Violations() int { return r.Lost + r.Duplicated + r.OutOfOrder + r.SplitBrain }

const maxExamples = 5

func (r *Row) example(format string, args ...any) {
	if len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// Outside is the row of operations that ended in no window.
const Outside = "(outside scenarios)"

// Check verifies a history against the guarantees, window by window:
//   - every acknowledged publish reached every subscriber in subscribers
//     (persistent sessions subscribed before any publish);
//   - no subscriber received a QoS 2 message twice;
//   - each subscriber first received the acknowledged messages of a
//     publisher on a topic in the order they were published (QoS ≥ 1);
//   - no operation answered by a node (Node set) lay entirely in the
//     leadership of other nodes.
//
// A violation counts in the window in which its operation ended (for a
// lost message, its acknowledgement). The last row is the total.
func Check(ops []Op, subscribers []string, leaders []Leadership, windows []Window) []Row {
	rows := make([]Row, len(windows)+1)
	for i, w := range windows {
		rows[i].Scenario = w.Name
	}
	rows[len(windows)].Scenario = Outside
	at := func(t time.Time) *Row {
		for i, w := range windows {
			if !t.Before(w.Start) && t.Before(w.End) {
				return &rows[i]
			}
		}
		return &rows[len(windows)]
	}

	type key struct {
		sub, topic string
		m          Message
	}
	received := map[key]int{}
	lastID := map[key]uint16{}
	acked := map[Message]Op{}
	for _, op := range ops {
		at(op.End).Operations++
		switch {
		case op.Kind == Publish && op.OK:
			at(op.End).Acked++
			acked[Message{op.Publisher, op.Seq}] = op
		case op.Kind == Deliver:
			k := key{op.Client, op.Topic, Message{op.Publisher, op.Seq}}
			if id, seen := lastID[k]; seen && op.QoS == 2 && op.Dup && op.PacketID == id {
				at(op.End).Redelivered++
				continue // the receiver suppresses it
			}
			received[k]++
			lastID[k] = op.PacketID
		}
	}

	// Lost and duplicated, in acknowledgement order.
	pubs := sortedAcked(acked)
	for _, p := range pubs {
		m := Message{p.Publisher, p.Seq}
		var missing, twice []string
		for _, s := range subscribers {
			switch n := received[key{s, p.Topic, m}]; {
			case n == 0:
				missing = append(missing, s)
			case n > 1 && p.QoS == 2:
				twice = append(twice, fmt.Sprintf("%s ×%d", s, n))
			}
		}
		r := at(p.End)
		if len(missing) > 0 {
			r.Lost++
			r.example("lost: %s (QoS %d on %s, acked at %s by %s) never reached %v",
				m, p.QoS, p.Topic, clock(p.End), served(p.Node), missing)
		}
		if len(twice) > 0 {
			r.Duplicated++
			r.example("duplicated: QoS 2 %s on %s received %v", m, p.Topic, twice)
		}
	}

	checkOrder(ops, acked, at)
	checkLeadership(ops, leaders, at)

	for i, w := range windows {
		rows[i].LongestUnavailable = longestGap(pubs, w.Start, w.End)
	}
	total := Row{Scenario: "total"}
	for _, r := range rows {
		total.Operations += r.Operations
		total.Acked += r.Acked
		total.Lost += r.Lost
		total.Duplicated += r.Duplicated
		total.Redelivered += r.Redelivered
		total.OutOfOrder += r.OutOfOrder
		total.SplitBrain += r.SplitBrain
		total.LongestUnavailable = max(total.LongestUnavailable, r.LongestUnavailable)
	}
	if o := rows[len(windows)]; o.Operations == 0 {
		rows = rows[:len(windows)]
	}
	return append(rows, total)
}

// sortedAcked returns the acknowledged publishes by acknowledgement time.
func sortedAcked(acked map[Message]Op) []Op {
	pubs := make([]Op, 0, len(acked))
	for _, p := range acked {
		pubs = append(pubs, p)
	}
	slices.SortFunc(pubs, func(a, b Op) int {
		return cmp.Or(a.End.Compare(b.End), cmp.Compare(a.Index, b.Index))
	})
	return pubs
}

// checkOrder counts, per subscriber, publisher and topic, the acknowledged
// messages first received after a later one.
func checkOrder(ops []Op, acked map[Message]Op, at func(time.Time) *Row) {
	type stream struct{ sub, topic, pub string }
	highest := map[stream]int{}
	seen := map[stream]map[int]bool{}
	ordered := slices.Clone(ops)
	slices.SortFunc(ordered, func(a, b Op) int { return cmp.Compare(a.Index, b.Index) })
	for _, op := range ordered {
		if op.Kind != Deliver {
			continue
		}
		if _, ok := acked[Message{op.Publisher, op.Seq}]; !ok {
			continue
		}
		s := stream{op.Client, op.Topic, op.Publisher}
		if seen[s] == nil {
			seen[s] = map[int]bool{}
		}
		if seen[s][op.Seq] {
			continue // a redelivery: only first receptions are ordered
		}
		seen[s][op.Seq] = true
		if h, ok := highest[s]; ok && op.Seq < h {
			r := at(op.End)
			r.OutOfOrder++
			r.example("out of order: %s received %s#%d on %s after #%d", op.Client, op.Publisher, op.Seq, op.Topic, h)
			continue
		}
		highest[s] = op.Seq
	}
}

// checkLeadership counts the successful operations answered by a node
// that did not hold leadership at any moment between their start and end.
func checkLeadership(ops []Op, leaders []Leadership, at func(time.Time) *Row) {
	ls := slices.Clone(leaders)
	slices.SortFunc(ls, func(a, b Leadership) int { return a.Since.Compare(b.Since) })
	for _, op := range ops {
		if op.Node == "" || !op.OK {
			continue
		}
		holders, known := leadersDuring(ls, op.Start, op.End)
		if !known || slices.Contains(holders, op.Node) {
			continue
		}
		r := at(op.End)
		r.SplitBrain++
		r.example("split brain: %s %s answered by %s at %s–%s while %v led",
			op.Client, op.Kind, op.Node, clock(op.Start), clock(op.End), holders)
	}
}

// leadersDuring returns the nodes that held leadership at some moment of
// [start, end]; known is false if no epoch had begun by start.
func leadersDuring(ls []Leadership, start, end time.Time) (nodes []string, known bool) {
	for i, l := range ls {
		next := i+1 < len(ls) && !ls[i+1].Since.After(start)
		switch {
		case next:
			continue // superseded before start
		case !l.Since.After(start):
			known = true
			nodes = append(nodes, l.Node)
		case !l.Since.After(end):
			nodes = append(nodes, l.Node)
		}
	}
	return nodes, known
}

// longestGap is the longest stretch of [start, end) without an
// acknowledgement among pubs (sorted by End).
func longestGap(pubs []Op, start, end time.Time) time.Duration {
	longest, last := time.Duration(0), start
	for _, p := range pubs {
		if p.End.Before(start) || !p.End.Before(end) {
			continue
		}
		longest = max(longest, p.End.Sub(last))
		last = p.End
	}
	return max(longest, end.Sub(last))
}

func served(node string) string {
	if node == "" {
		return "HAProxy"
	}
	return node
}

func clock(t time.Time) string { return t.Format("15:04:05.000") }
