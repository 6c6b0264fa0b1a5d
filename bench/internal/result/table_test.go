package result

import (
	"errors"
	"strings"
	"testing"
)

func sample() []Result {
	return []Result{
		{Label: "mochi", QoS: 0, Pairs: 20, Size: 256, Expected: 4000, Missing: 3, MsgPerSec: 200000, P50Ms: 1.234, P99Ms: 12.34, MaxMs: 123.4, OK: true},
		{Label: "mochi", QoS: 1, Pairs: 20, Size: 256, MsgPerSec: 100000, P50Ms: 2, P99Ms: 3, MaxMs: 4, OK: true},
		{Label: "triad", QoS: 0, Pairs: 20, Size: 256, MsgPerSec: 150000, P50Ms: 1, P99Ms: 2, MaxMs: 3, OK: true},
		{Label: "triad", QoS: 1, Pairs: 20, Size: 256, Expected: 100, Missing: 5, MsgPerSec: 50000, OK: false, Error: "5 of 100 messages missing"},
		{Label: "triad", QoS: 2, Pairs: 20, Size: 256, Expected: 100, Missing: 100, OK: false},
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, sample()); err != nil {
		t.Fatal(err)
	}
	want := `scenario     | broker |  msg/s |    p50 |    p99 |    max
-------------+--------+--------+--------+--------+-------
qos0 20x256B | mochi  | 200000 | 1.23ms | 12.3ms |  123ms  (3 of 4000 lost, allowed at QoS 0)
qos0 20x256B | triad  | 150000 | 1.00ms | 2.00ms | 3.00ms
qos1 20x256B | mochi  | 100000 | 2.00ms | 3.00ms | 4.00ms
qos1 20x256B | triad  |  50000 | 0.00ms | 0.00ms | 0.00ms  FAILED: 5 of 100 messages missing
qos2 20x256B | triad  |      0 | 0.00ms | 0.00ms | 0.00ms  FAILED: 100 of 100 missing
`
	if got := b.String(); got != want {
		t.Errorf("table mismatch\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteRatios(t *testing.T) {
	var b strings.Builder
	ratios := []Ratio{{"triad", "mochi"}, {"triad", "mosquitto"}}
	if err := WriteRatios(&b, sample(), ratios); err != nil {
		t.Fatal(err)
	}
	want := `qos0 20x256B   triad/mochi:       0.75x msg/s (150000 vs 200000)
qos0 20x256B   triad/mosquitto:   n/a (no mosquitto result)
qos1 20x256B   triad/mochi:       0.50x msg/s (50000 vs 100000) [triad FAILED]
qos1 20x256B   triad/mosquitto:   n/a (no mosquitto result)
qos2 20x256B   triad/mochi:       n/a (no mochi result)
qos2 20x256B   triad/mosquitto:   n/a (no mosquitto result)
`
	if got := b.String(); got != want {
		t.Errorf("ratios mismatch\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseRatios(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []Ratio
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"two", "triad/mochi, triad/mosquitto", []Ratio{{"triad", "mochi"}, {"triad", "mosquitto"}}, false},
		{"missing slash", "triad", nil, true},
		{"empty side", "triad/", nil, true},
		{"two slashes", "a/b/c", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRatios(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadRatio) {
					t.Fatalf("err = %v, want ErrBadRatio", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestReadLines(t *testing.T) {
	in := `{"label":"mochi","qos":1,"pairs":2,"size":256,"msg_per_s":10,"ok":true}

{"label":"triad","qos":1,"pairs":2,"size":256,"msg_per_s":5,"ok":false,"error":"x"}
`
	rs, err := ReadLines(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Label != "mochi" || rs[1].Error != "x" {
		t.Fatalf("got %+v", rs)
	}
	_, err = ReadLines(strings.NewReader("{\"label\":\"a\"}\n{\"bogus\":1}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want an error naming line 2", err)
	}
}

func TestFailureNoteIsOneLine(t *testing.T) {
	r := Result{QoS: 1, Error: "a\nb\tc  " + strings.Repeat("x", 300)}
	got := failureNote(r)
	if strings.ContainsAny(got, "\n\t") || len(got) > len("FAILED: ")+200 || !strings.HasPrefix(got, "FAILED: a b c x") || !strings.HasSuffix(got, "...") {
		t.Fatalf("failureNote = %q", got)
	}
}

func TestWriteRatiosWidensForLongNames(t *testing.T) {
	rs := []Result{
		{Label: "triad", QoS: 1, Pairs: 20, Size: 256, MsgPerSec: 1000, OK: true},
		{Label: "triad-cluster", QoS: 1, Pairs: 20, Size: 256, MsgPerSec: 500, OK: true},
		{Label: "mochi", QoS: 1, Pairs: 20, Size: 256, MsgPerSec: 2000, OK: true},
	}
	ratios, err := ParseRatios("triad/mochi,triad-cluster/triad")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteRatios(&b, rs, ratios); err != nil {
		t.Fatal(err)
	}
	want := `qos1 20x256B   triad/mochi:         0.50x msg/s (1000 vs 2000)
qos1 20x256B   triad-cluster/triad: 0.50x msg/s (500 vs 1000)
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
