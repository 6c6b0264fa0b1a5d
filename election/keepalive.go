package election

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lease renewal.
//
// A renewal is sent every sixth of the TTL. Each answer moves the local
// deadline (the fence) to the renewal's send time + the granted TTL − the
// margin: the lease cannot expire on the server before that, whenever the
// answer arrives. Renewing often keeps the last answer recent: when etcd
// loses its raft leader just after one, the fence still has most of
// TTL − margin for etcd to elect another and a renewal to land (with the
// demo's 2 s TTL and 0.5 s margin, renewals every third of the TTL left as
// little as 0.8 s, and a CI run saw the fence lapse).
//
// Renewals overlap. A new one goes out on schedule whether or not the
// previous one was answered, and each waits for its answer as long as the
// answer can still be of use: until its send time + TTL − margin. A node
// whose CPU is saturated (a reconnect storm after a failover) answers its
// own renewals late — each is several goroutine wake-ups in the etcd
// client, and in the embedded member when it serves the request — and
// renewals given up after a third of the TTL (as they once were) threw
// away answers of 0.7–1.4 s that would still have kept the fence, until it
// ran out and the node stepped down. A renewal that fails at once (etcd
// electing a leader) is followed by another after keepAliveRetry, so the
// renewal lands as soon as etcd answers again.

// keepAliveInFlight bounds the renewals waiting for an answer: each waits
// at most TTL − margin, and one goes out every TTL/6.
const keepAliveInFlight = 6

// renewFunc sends one renewal of the session's lease and returns the TTL
// etcd granted, in seconds.
type renewFunc func(ctx context.Context) (ttl int64, err error)

// renewer renews lease through the etcd client.
func (e *Elector) renewer(lease clientv3.LeaseID) renewFunc {
	return func(ctx context.Context) (int64, error) {
		resp, err := e.o.Client.KeepAliveOnce(ctx, lease)
		if err != nil {
			return 0, err
		}
		return resp.TTL, nil
	}
}

// renewal is the outcome of one renewal sent at sent.
type renewal struct {
	sent time.Time
	ttl  int64
	err  error
}

// keepAlive renews the lease until ctx ends, or closes lost when etcd
// says the lease is gone.
func (e *Elector) keepAlive(ctx context.Context, renew renewFunc, lost chan<- struct{}) {
	interval := e.o.TTL / 6
	patience := max(e.o.TTL-e.o.Margin, interval)
	// Buffered for every renewal in flight, so that none is left blocked
	// when this loop returns.
	results := make(chan renewal, keepAliveInFlight)
	inFlight := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			next := time.Now().Add(interval)
			if inFlight < keepAliveInFlight {
				inFlight++
				go sendRenewal(ctx, renew, patience, results)
			}
			timer.Reset(time.Until(next))
		case r := <-results:
			inFlight--
			switch {
			case r.err == nil:
				_, left := e.fence.Strain()
				e.fence.extend(r.sent.Add(time.Duration(r.ttl)*time.Second - e.o.Margin))
				if left > 0 {
					e.lateRenewal(time.Since(r.sent), left)
				}
			case errors.Is(r.err, rpctypes.ErrLeaseNotFound):
				close(lost)
				e.Kick()
				return
			case ctx.Err() != nil:
				return
			default:
				e.o.Log.Debug("lease keepalive failed", "error", r.err, "after", time.Since(r.sent).Round(time.Millisecond),
					"fence_remaining", e.fence.Remaining())
				// etcd is electing a raft leader, or a member is gone:
				// try again soon, so that a renewal lands as soon as
				// etcd answers, before the fence runs out.
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
				timer.Reset(keepAliveRetry)
			}
		}
	}
}

// sendRenewal sends one renewal, waits for its answer at most patience,
// and reports the outcome on results.
func sendRenewal(ctx context.Context, renew renewFunc, patience time.Duration, results chan<- renewal) {
	sent := time.Now()
	rctx, cancel := context.WithDeadline(ctx, sent.Add(patience))
	ttl, err := renew(rctx)
	cancel()
	if err == nil && ttl <= 0 {
		err = rpctypes.ErrLeaseNotFound
	}
	results <- renewal{sent: sent, ttl: ttl, err: err}
}
