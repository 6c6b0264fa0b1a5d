package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// httpDo sends a request without a body to url and returns the status code,
// the body and the headers.
func httpDo(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// metricSamples parses Prometheus text exposition into "name{labels}" →
// value.
func metricSamples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scrapeMetrics scrapes GET /metrics of n.
func scrapeMetrics(t *testing.T, n *node) map[string]float64 {
	t.Helper()
	code, body, _ := httpDo(t, http.MethodGet, "http://"+n.httpAddr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	return metricSamples(t, body)
}

// TestHTTPEndpoints: /health answers GET only, /status reports the node and
// counts that match what the test created, /metrics exposes the broker's
// Prometheus metrics.
func TestHTTPEndpoints(t *testing.T) {
	n := newNode(t, "")
	n.start()
	base := "http://" + n.httpAddr
	url := "tcp://" + n.mqttAddr

	code, body, _ := httpDo(t, http.MethodGet, base+"/health")
	if code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /health: %d %q, want 200 \"ok\\n\"", code, body)
	}
	for _, path := range []string{"/health", "/status", "/metrics"} {
		code, _, hdr := httpDo(t, http.MethodPost, base+path)
		if code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, code)
		}
		if allow := hdr.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("POST %s: Allow %q, want GET listed", path, allow)
		}
	}
	if code, _, _ := httpDo(t, http.MethodGet, base+"/nonexistent"); code != http.StatusNotFound {
		t.Errorf("GET /nonexistent: %d, want 404", code)
	}

	// Two offline persistent sessions with 3 subscriptions between them,
	// one connected client, three retained messages (one of them set and
	// cleared again), four QoS 1 publishes queued for one session.
	for _, id := range []string{"http-s1", "http-s2"} {
		c, _ := mustDialV311(t, url, id, false, nil)
		filters := map[string]byte{"http/a": 1}
		if id == "http-s1" {
			filters["http/b/#"] = 2
		}
		subV311(t, c, filters)
		c.Disconnect(250)
	}
	live, _ := mustDialV311(t, url, "http-live", true, nil)
	defer live.Disconnect(250)
	for i := 0; i < 4; i++ {
		pubV311(t, live, "http/a", 1, false, fmt.Sprintf("a-%d", i))
	}
	for i := 0; i < 4; i++ {
		pubV311(t, live, fmt.Sprintf("http/ret/%d", i), 1, true, "r")
	}
	pubV311(t, live, "http/ret/3", 1, true, "")

	want := nodeStatus{Node: "e2e", Role: "standalone", Version: triadVersion(t), Healthy: true,
		Connections: 1, Sessions: 3, Subscriptions: 3, Retained: 3, Inflight: 8}
	var st nodeStatus
	matches := func() bool {
		var err error
		if st, err = getStatus(n.httpAddr); err != nil {
			t.Fatal(err)
		}
		got := st
		got.AppliedIndex, got.Listeners = 0, nil
		return fmt.Sprintf("%+v", got) == fmt.Sprintf("%+v", want)
	}
	if !poll(10*time.Second, matches) {
		t.Errorf("/status\n  %+v\nwant\n  %+v", st, want)
	}
	if st.Listeners["tcp0"] != n.mqttAddr {
		t.Errorf("/status listeners %v, want tcp0: %s", st.Listeners, n.mqttAddr)
	}
	if st.AppliedIndex == 0 {
		t.Errorf("/status applied_index 0 after durable writes")
	}

	m := scrapeMetrics(t, n)
	for name, wantV := range map[string]float64{
		`triad_connections`:                      1,
		`triad_sessions`:                         3,
		`triad_retained_messages`:                3,
		`triad_messages_received_total{qos="1"}`: 9,
	} {
		if v, ok := m[name]; !ok || v != wantV {
			t.Errorf("/metrics %s = %v (present %v), want %v", name, v, ok, wantV)
		}
	}
	if v := m["triad_store_commit_seconds_count"]; v < 1 {
		t.Errorf("/metrics triad_store_commit_seconds_count = %v, want > 0 after durable writes", v)
	}
	if _, ok := m[`triad_store_commit_seconds_bucket{le="+Inf"}`]; !ok {
		t.Errorf("/metrics: triad_store_commit_seconds is not a histogram")
	}
}

// poll checks cond every 20ms until it holds (true) or timeout passes
// (false).
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	return true
}

// triadVersion is the version `triad version` prints.
func triadVersion(t *testing.T) string {
	t.Helper()
	out, errOut, code := runTriad(t, "version")
	if code != 0 {
		t.Fatalf("triad version: exit %d: %s", code, errOut)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "triad ")
	if !ok || v == "" {
		t.Fatalf("triad version printed %q, want \"triad <version>\"", out)
	}
	return v
}
