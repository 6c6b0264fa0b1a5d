package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

// history prints every leadership change, oldest first (the history keys
// are zero-padded epochs, so etcd's key order is epoch order).
func (a *app) history(ctx context.Context, cl *cmdLine) error {
	if err := cl.noArgs(); err != nil {
		return err
	}
	s, err := a.open(cl)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	resp, err := s.c.Get(ctx, s.keys.History(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return s.fail(ctx, err)
	}
	entries := make([]election.HistoryEntry, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var e election.HistoryEntry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			fmt.Fprintf(a.stderr, "triadctl: skipping %s: undecodable value: %v\n", kv.Key, err)
			continue
		}
		entries = append(entries, e)
	}
	if cl.bool("json") {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(a.stdout, "no leadership changes recorded in cluster %s\n", s.cluster)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EPOCH\tNODE\tREASON\tTIME")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Epoch, e.Node, orDash(e.Reason), e.Time.Format(time.RFC3339))
	}
	return tw.Flush()
}
