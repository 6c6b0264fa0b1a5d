package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triadmq/triad/election"
)

func TestStatus(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "prod")
	e.put(t, tc.keys.Pin(), "n1")

	t.Run("text", func(t *testing.T) {
		r := e.run(t, "prod", "status")
		r.want(t, 0, []string{
			"cluster  prod\n",
			fmt.Sprintf("leader   n2 (epoch %d, by election)\n", tc.epoch),
			"pin      n1 (NOT honoured: n2 leads)\n",
			"paused   no\n",
		}, nil)
		ep := fmt.Sprint(tc.epoch)
		for _, want := range [][]string{
			{"NODE", "ROLE", "HEALTHY", "IN_SYNC", "EPOCH", "APPLIED", "LAG", "MQTT", "HTTP", "VERSION"},
			{"n1", "follower", "yes", "yes", ep, "100", "5", "10.0.0.1:1883", "10.0.0.1:8008", "0.1.0"},
			{"n2*", "leader", "yes", "yes", ep, "105", "0", "10.0.0.2:1883,10.0.0.2:8883", "10.0.0.2:8008", "0.1.0"},
			{"n3", "follower", "yes", "no", ep, "70", "35", "-", "-", "0.1.0"},
		} {
			if !hasRow(r.stdout, want) {
				t.Errorf("no row %q", want)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		r := e.run(t, "prod", "status", "--json")
		r.want(t, 0, nil, nil)
		var got map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		for k, want := range map[string]any{
			"cluster": "prod", "leader": "n2", "epoch": float64(tc.epoch), "pin": "n1",
			"pin_honoured": false, "paused": false,
		} {
			if got[k] != want {
				t.Errorf("%s = %#v, want %#v", k, got[k], want)
			}
		}
		nodes, _ := got["nodes"].([]any)
		if len(nodes) != 3 {
			t.Fatalf("nodes: %#v", got["nodes"])
		}
		n3 := nodes[2].(map[string]any)
		for k, want := range map[string]any{
			"name": "n3", "role": "follower", "healthy": true, "in_sync": false, "applied": float64(70),
			"lag": float64(35), "epoch": float64(tc.epoch), "mqtt": []any{}, "http": "", "version": "0.1.0",
		} {
			if fmt.Sprint(n3[k]) != fmt.Sprint(want) {
				t.Errorf("nodes[2].%s = %#v, want %#v", k, n3[k], want)
			}
		}
	})

	t.Run("empty cluster json", func(t *testing.T) {
		r := e.run(t, "empty", "status", "--json")
		r.want(t, 0, []string{`"leader": null`, `"pin": null`, `"pin_honoured": true`, `"nodes": []`}, nil)
	})

	t.Run("empty cluster text", func(t *testing.T) {
		e.run(t, "empty", "status").want(t, 0, []string{"leader   none", "pin      none", "no live nodes"}, nil)
	})
}

func TestStatusWatch(t *testing.T) {
	e := startEtcd(t)
	tc := e.writeCluster(t, "w")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut syncBuffer
	a := &app{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- a.main(ctx, []string{"status", "--watch", "--json", "--etcd", e.url, "--cluster", "w"})
	}()

	views := func() []statusJSON {
		var vs []statusJSON
		for line := range strings.Lines(out.String()) {
			var v statusJSON
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	eventually(t, "first view", func() bool { return len(views()) > 0 && !views()[0].Paused })
	e.put(t, tc.keys.Pause(), election.PauseRecord{At: time.Now(), By: "test"})
	eventually(t, "paused view", func() bool { vs := views(); return vs[len(vs)-1].Paused })
	if _, err := e.c.Revoke(ctxFor(t), tc.leases["n2"]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "leader gone", func() bool { vs := views(); return vs[len(vs)-1].Leader == nil })

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d after interrupt, want 0; stderr %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("status --watch did not stop after interrupt")
	}
}

// hasRow says whether some line of out has exactly the given fields.
func hasRow(out string, fields []string) bool {
	for line := range strings.Lines(out) {
		if slices.Equal(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}
