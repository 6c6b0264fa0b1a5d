package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/triadmq/triad/election"
)

func TestHistory(t *testing.T) {
	e := startEtcd(t)
	k := election.NewKeys("c")
	e.run(t, "c", "history").want(t, 0, []string{"no leadership changes recorded in cluster c"}, nil)
	e.run(t, "c", "history", "--json").want(t, 0, []string{"[]"}, nil)

	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	// Written out of order: epoch 1000 must still come after epoch 99.
	for _, h := range []election.HistoryEntry{
		{Epoch: 1000, Node: "n3", Reason: "failover", Time: t0.Add(2 * time.Hour)},
		{Epoch: 7, Node: "n1", Reason: "election", Time: t0},
		{Epoch: 99, Node: "n2", Reason: "switchover", Time: t0.Add(time.Hour)},
	} {
		e.put(t, k.HistoryAt(h.Epoch), h)
	}
	e.put(t, k.HistoryAt(1001), "garbage")

	r := e.run(t, "c", "history")
	r.want(t, 0, []string{
		"EPOCH  NODE  REASON      TIME\n" +
			"7      n1    election    2025-03-01T10:00:00Z\n" +
			"99     n2    switchover  2025-03-01T11:00:00Z\n" +
			"1000   n3    failover    2025-03-01T12:00:00Z\n",
	}, []string{"history/00000000000000001001: undecodable"})

	r = e.run(t, "c", "history", "--json")
	var got []election.HistoryEntry
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Epoch != 7 || got[1].Epoch != 99 || got[2].Epoch != 1000 || got[2].Reason != "failover" {
		t.Fatalf("history --json: %+v", got)
	}
}
