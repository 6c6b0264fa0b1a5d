package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/triadmq/triad/election"
)

// pause stops automatic leader changes (the nodes read the pause key's
// presence). An existing pause is kept as it is.
func (a *app) pause(ctx context.Context, cl *cmdLine) error {
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
	val, err := json.Marshal(election.PauseRecord{At: time.Now().UTC(), By: "triadctl"})
	if err != nil {
		return err
	}
	key := s.keys.Pause()
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return s.fail(ctx, err)
	}
	if !resp.Succeeded {
		since := ""
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			var p election.PauseRecord
			if json.Unmarshal(kvs[0].Value, &p) == nil && !p.At.IsZero() {
				since = fmt.Sprintf(" since %s by %s", p.At.Format(time.RFC3339), p.By)
			}
		}
		fmt.Fprintf(a.stdout, "already paused%s\n", since)
		return nil
	}
	fmt.Fprintln(a.stdout, "paused: no automatic leader change happens (not even when the leader dies) until 'triadctl resume'")
	return nil
}

func (a *app) resume(ctx context.Context, cl *cmdLine) error {
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
	resp, err := s.c.Delete(ctx, s.keys.Pause())
	if err != nil {
		return s.fail(ctx, err)
	}
	if resp.Deleted == 0 {
		fmt.Fprintln(a.stdout, "not paused: nothing to resume")
		return nil
	}
	fmt.Fprintln(a.stdout, "resumed: automatic leader changes happen again")
	return nil
}
