package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/triadmq/triad/demo"
)

// logCount is how often one warning or error, or a leadership taken
// (leadershipMsg), appeared in a node's log.
type logCount struct {
	Node  string `json:"node"`
	Level string `json:"level"` // WARN, ERROR, or INFO for leadershipMsg
	Msg   string `json:"msg"`
	N     int    `json:"n"`
}

// logMarks remembers where each node's log ended, to count what comes
// after.
type logMarks struct {
	paths   map[string]string // node → log path
	offsets map[string]int64
}

// markLogs notes the current size of every node's triad.log.
func markLogs(l *demo.Layout) *logMarks {
	m := &logMarks{paths: map[string]string{}, offsets: map[string]int64{}}
	for _, n := range l.Nodes {
		m.paths[n.Name] = n.LogPath
		if fi, err := os.Stat(n.LogPath); err == nil {
			m.offsets[n.Name] = fi.Size()
		}
	}
	return m
}

// maxLogScan bounds how much of each log count reads.
const maxLogScan = 256 << 20

// firstLeader is the first leadership taken after the marks, by the
// nodes' logs.
type firstLeader struct {
	Node string    `json:"node"`
	At   time.Time `json:"at"`
}

// count reads every node's log from its mark and counts the warnings and
// errors by message, most frequent first, and finds the first leadership
// taken. A log it cannot read is skipped: the counts are evidence, not
// the measurement.
func (m *logMarks) count() ([]logCount, firstLeader) {
	counts := map[logCount]int{}
	var first firstLeader
	for node, path := range m.paths {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if _, err := f.Seek(m.offsets[node], io.SeekStart); err == nil {
			sc := bufio.NewScanner(io.LimitReader(f, maxLogScan))
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				level, msg, ok := warning(line)
				if !ok {
					continue
				}
				counts[logCount{Node: node, Level: level, Msg: msg}]++
				if msg == leadershipMsg {
					if at, ok := lineTime(line); ok && (first.At.IsZero() || at.Before(first.At)) {
						first = firstLeader{Node: node, At: at}
					}
				}
			}
		}
		f.Close() // read-only
	}
	out := make([]logCount, 0, len(counts))
	for k, n := range counts {
		k.N = n
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].Msg < out[j].Msg
	})
	return out, first
}

// lineTime is the time= of a slog text line.
func lineTime(line string) (time.Time, bool) {
	v, ok := strings.CutPrefix(line, "time=")
	if !ok {
		return time.Time{}, false
	}
	v, _, _ = strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

// leadershipMsg is what a node logs each time it starts serving MQTT as
// the leader (node/cluster.go).
const leadershipMsg = "serving MQTT as leader"

// leaderships counts the leaderships taken in counts.
func leaderships(counts []logCount) int {
	n := 0
	for _, c := range counts {
		if c.Msg == leadershipMsg {
			n += c.N
		}
	}
	return n
}

// warning parses a log line, slog's text format (level=WARN msg="...")
// or a JSON line (etcd's zap: "level":"warn","msg":"..."), and returns
// its level and message if it is a warning, an error or leadershipMsg.
func warning(line string) (level, msg string, ok bool) {
	if strings.Contains(line, " level=INFO msg=\""+leadershipMsg+"\"") {
		return "INFO", leadershipMsg, true
	}
	if strings.HasPrefix(line, "{") {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			return "", "", false
		}
		level = strings.ToUpper(rec.Level)
		return level, rec.Msg, level == "WARN" || level == "ERROR"
	}
	switch {
	case strings.Contains(line, " level=WARN "):
		level = "WARN"
	case strings.Contains(line, " level=ERROR "):
		level = "ERROR"
	default:
		return "", "", false
	}
	_, rest, found := strings.Cut(line, " msg=")
	if !found {
		return level, "", true
	}
	if q, err := strconv.QuotedPrefix(rest); err == nil {
		msg, _ = strconv.Unquote(q)
		return level, msg, true
	}
	msg, _, _ = strings.Cut(rest, " ")
	return level, msg, true
}
