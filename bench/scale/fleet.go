package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// fleetOptions say how the clients connect and reconnect.
type fleetOptions struct {
	conns, subs     int
	sources         int           // loopback source addresses, 127.0.0.2 on
	keepAlive       time.Duration // announced in CONNECT; a PINGREQ goes after half of it without a packet
	concurrency     int           // connect handshakes in flight at once in the connect phase
	rate            float64       // connect phase: connects started per second; 0: as fast as concurrency allows
	attemptTimeout  time.Duration // one connect attempt: TCP, CONNACK, SUBACK
	firstAttempts   int           // connect phase: attempts per client before it counts as failed
	resubscribe     bool          // after a reconnect, SUBSCRIBE again even when the session is present
	retryMin        time.Duration // reconnect: the wait after the first failed attempt, doubling...
	retryMax        time.Duration // ...up to this (each wait drawn in [d/2, d])
	reconnectJitter time.Duration // reconnect: the first attempt waits a random [0, this) after the drop
}

// maxReconnectAttempts bounds one client's reconnect loop in count; the
// fleet's context bounds it in time.
const maxReconnectAttempts = 1000

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h; not in
// package syscall): with a bound source address, the kernel picks the
// local port at connect time by the whole 4-tuple instead of at bind time.
const ipBindAddressNoPort = 24

// client is one MQTT client of the fleet.
type client struct {
	s      session
	dialer *net.Dialer
	conn   atomic.Pointer[mqttConn] // the live connection, nil while there is none
	back   bool                     // reconnected after the kill; its goroutine only
	ping   time.Duration            // this client's first PINGREQ delay: spreads the pings
	// lastBack is the latest reconnect after the kill, in ns since the
	// kill; 0 if none yet. Written by its goroutine, read by recovery.
	lastBack atomic.Int64
}

// fleet is N persistent-session clients of one broker address, each
// subscribed to subs QoS 1 filters, each kept connected by its own
// goroutine, which reconnects whenever its connection ends. It measures
// the connect phase and, after markKill, how long each client takes to
// be back.
type fleet struct {
	addr    string
	opt     fleetOptions
	clients []*client
	log     *slog.Logger

	ctx    context.Context // the clients' lifetime: close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the client goroutines

	killAt    atomic.Int64 // unix nanos of the takedown; 0 before
	lastEvent atomic.Int64 // unix nanos of the latest drop or reconnect after the kill
	up        atomic.Int64 // connections established now
	attempts  atomic.Int64 // connect attempts after the kill
	redrops   atomic.Int64 // connections lost again after coming back
	early     atomic.Int64 // connections lost before the kill

	mu         sync.Mutex
	back       []time.Duration // kill → back, one per client back
	notPresent int             // clients back whose CONNACK said no session
	firstErrs  map[string]int  // connect phase failures by errClass
	errs       map[string]int  // reconnect failures by errClass
}

// newFleet makes opt.conns clients of addr with ids and filters under
// prefix, spread over opt.sources loopback source addresses.
func newFleet(addr, prefix string, opt fleetOptions, log *slog.Logger) *fleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{addr: addr, opt: opt, log: log, ctx: ctx, cancel: cancel,
		firstErrs: map[string]int{}, errs: map[string]int{}}
	dialers := make([]*net.Dialer, opt.sources)
	for i := range dialers {
		dialers[i] = sourceDialer(net.IPv4(127, 0, byte((i+2)/256), byte((i+2)%256)))
	}
	keep := uint16(opt.keepAlive / time.Second)
	for i := range opt.conns {
		c := &client{
			s:      session{id: fmt.Sprintf("%s-c%d", prefix, i), keepAlive: keep},
			dialer: dialers[i%len(dialers)],
			ping:   time.Duration(rand.Int64N(int64(opt.keepAlive/2))) + time.Second,
		}
		for j := range opt.subs {
			c.s.filters = append(c.s.filters, fmt.Sprintf("%s/c%d/t%d", prefix, i, j))
		}
		f.clients = append(f.clients, c)
	}
	return f
}

// sourceDialer dials from src with IP_BIND_ADDRESS_NO_PORT set.
func sourceDialer(src net.IP) *net.Dialer {
	return &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: src},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			}); err != nil {
				return fmt.Errorf("raw conn: %w", err)
			}
			if serr != nil {
				return fmt.Errorf("setsockopt IP_BIND_ADDRESS_NO_PORT: %w", serr)
			}
			return nil
		},
	}
}

// connectResult is the connect phase as measured.
type connectResult struct {
	Connected int            `json:"connected"`
	Failed    int            `json:"failed"`
	Elapsed   time.Duration  `json:"elapsed_ns"`
	Errors    map[string]int `json:"errors,omitempty"` // failed attempts by kind
}

// connectAll connects every client, opt.concurrency handshakes at a time
// and at most opt.rate starts a second, each client with up to
// opt.firstAttempts attempts, all within timeout. A connected client's
// goroutine then keeps it connected until close.
func (f *fleet) connectAll(ctx context.Context, timeout time.Duration) connectResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	jobs := make(chan *client)
	var ok, failed atomic.Int64
	var workers sync.WaitGroup
	for range min(f.opt.concurrency, len(f.clients)) {
		workers.Go(func() {
			for c := range jobs {
				if f.connectFirst(ctx, c) {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	stopProgress := f.progress(ctx, start, &ok, &failed)
	var pace <-chan time.Time
	if f.opt.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / f.opt.rate))
		defer t.Stop()
		pace = t.C
	}
	fed := 0
feed:
	for _, c := range f.clients {
		if pace != nil {
			select {
			case <-pace:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case jobs <- c:
			fed++
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	workers.Wait()
	stopProgress()
	f.mu.Lock()
	defer f.mu.Unlock()
	return connectResult{Connected: int(ok.Load()), Failed: int(failed.Load()) + len(f.clients) - fed,
		Elapsed: time.Since(start), Errors: copyMap(f.firstErrs)}
}

// progress logs the connect phase every 5 s until the returned stop.
func (f *fleet) progress(ctx context.Context, start time.Time, ok, failed *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				el := time.Since(start)
				f.log.Info("connecting", "connected", ok.Load(), "failed", failed.Load(), "of", len(f.clients),
					"per_s", int(float64(ok.Load())/el.Seconds()), "elapsed", el.Round(time.Second))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// connectFirst makes c's first connection (subscribing), with up to
// opt.firstAttempts attempts, and starts its goroutine. It reports
// whether c connected.
func (f *fleet) connectFirst(ctx context.Context, c *client) bool {
	wait := f.opt.retryMin
	for attempt := 1; attempt <= f.opt.firstAttempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, f.opt.attemptTimeout)
		m, _, err := dialSession(actx, c.dialer, f.addr, &c.s, func(bool) bool { return true })
		cancel()
		if err == nil {
			f.wg.Add(1)
			go f.keep(c, m)
			return true
		}
		f.count(f.firstErrs, err)
		if ctx.Err() != nil || !sleep(ctx, wait) {
			return false
		}
		wait = min(2*wait, f.opt.retryMax)
	}
	return false
}

// keep serves c's connection m and reconnects whenever it ends, until
// the fleet closes.
func (f *fleet) keep(c *client, m *mqttConn) {
	defer f.wg.Done()
	for m != nil {
		c.conn.Store(m)
		if f.ctx.Err() != nil { // close may have looked before the store
			m.disconnect()
			return
		}
		f.up.Add(1)
		err := m.serve(f.opt.keepAlive/2, c.ping)
		f.up.Add(-1)
		c.conn.Store(nil)
		m.abort()
		if f.ctx.Err() != nil {
			return
		}
		switch {
		case f.killAt.Load() == 0:
			if f.early.Add(1) <= 5 {
				f.log.Warn("connection lost before the kill", "client", c.s.id, "error", err)
			}
		case c.back:
			f.lastEvent.Store(time.Now().UnixNano())
			if f.redrops.Add(1) <= 5 {
				f.log.Warn("connection lost again after reconnecting", "client", c.s.id, "error", err)
			}
		default:
			f.lastEvent.Store(time.Now().UnixNano())
		}
		m = f.reconnect(c)
	}
}

// reconnect connects c again after a drop: the first attempt after a
// random [0, opt.reconnectJitter), then with backoff (opt.retryMin
// doubling to opt.retryMax, each wait drawn in [d/2, d]). It subscribes
// again when opt.resubscribe says so or the session is gone. It returns
// nil once the fleet closes or after maxReconnectAttempts.
func (f *fleet) reconnect(c *client) *mqttConn {
	var wait time.Duration
	if f.opt.reconnectJitter > 0 {
		wait = time.Duration(rand.Int64N(int64(f.opt.reconnectJitter)))
	}
	d := f.opt.retryMin
	resub := func(present bool) bool { return f.opt.resubscribe || !present }
	for range maxReconnectAttempts {
		if !sleep(f.ctx, wait) {
			return nil
		}
		actx, cancel := context.WithTimeout(f.ctx, f.opt.attemptTimeout)
		m, hs, err := dialSession(actx, c.dialer, f.addr, &c.s, resub)
		cancel()
		killed := f.killAt.Load()
		if killed != 0 {
			f.attempts.Add(1)
		}
		if err == nil {
			if killed != 0 {
				now := time.Now().UnixNano()
				c.lastBack.Store(max(now-killed, 1))
				f.lastEvent.Store(now)
				if !c.back {
					c.back = true
					f.noteBack(time.Duration(now-killed), hs.sessionPresent)
				}
			}
			return m
		}
		if f.ctx.Err() != nil {
			return nil
		}
		f.count(f.errs, err)
		wait = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
		d = min(2*d, f.opt.retryMax)
	}
	f.log.Warn("client gave up reconnecting", "client", c.s.id, "attempts", maxReconnectAttempts)
	return nil
}

func (f *fleet) noteBack(d time.Duration, present bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.back = append(f.back, d)
	if !present {
		f.notPresent++
	}
}

// count counts a failed attempt by kind, and logs the first few of each
// kind in full.
func (f *fleet) count(m map[string]int, err error) {
	class := errClass(err)
	f.mu.Lock()
	m[class]++
	n := m[class]
	f.mu.Unlock()
	if n <= 3 {
		f.log.Info("connect attempt failed", "kind", class, "error", err, "nth", n)
	}
}

// markKill records the moment of the takedown: reconnects from now on
// are measured from it.
func (f *fleet) markKill(at time.Time) { f.killAt.Store(at.UnixNano()) }

// backCount is how many clients are back since the kill.
func (f *fleet) backCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.back)
}

// recovery is the reconnection after the kill as measured.
type recovery struct {
	Clients    int `json:"clients"`
	Back       int `json:"back"`        // reconnected (and resubscribed, if asked) at least once within the wait
	NotPresent int `json:"not_present"` // of those, CONNACK said session present = 0 the first time: the session was lost
	// First is when the first client was back; P50, P99 and All are
	// percentiles of the first time each client was back, by nearest
	// rank over every client (one never back counts as infinite).
	First      time.Duration `json:"first_ns"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	All        time.Duration `json:"all_ns"`
	P50Reached bool          `json:"p50_reached"`
	P99Reached bool          `json:"p99_reached"`
	AllReached bool          `json:"all_reached"`
	// Stable: the same over the last time each client was back, counting
	// only the clients connected at the end of the wait; it differs from
	// the above when connections were lost again (a new leader stepping
	// down) after coming back.
	StableP50        time.Duration  `json:"stable_p50_ns"`
	StableP50Reached bool           `json:"stable_p50_reached"`
	StableP99        time.Duration  `json:"stable_p99_ns"`
	StableAll        time.Duration  `json:"stable_all_ns"`
	StableP99Reached bool           `json:"stable_p99_reached"`
	StableAllReached bool           `json:"stable_all_reached"`
	Attempts         int64          `json:"attempts"`         // connect attempts after the kill
	Errors           map[string]int `json:"errors,omitempty"` // failed attempts by kind
	Redrops          int64          `json:"redrops"`          // connections lost again after coming back
	Early            int64          `json:"early_drops"`      // connections lost before the kill
	Waited           time.Duration  `json:"waited_ns"`        // kill → end of the wait
}

// recovery summarises the reconnections since markKill.
func (f *fleet) recovery() recovery {
	f.mu.Lock()
	backs := append([]time.Duration(nil), f.back...)
	r := recovery{Clients: len(f.clients), Back: len(backs), NotPresent: f.notPresent, Errors: copyMap(f.errs)}
	f.mu.Unlock()
	slices.Sort(backs)
	r.Attempts, r.Redrops, r.Early = f.attempts.Load(), f.redrops.Load(), f.early.Load()
	r.P50, r.P50Reached = rank(backs, r.Clients, 50)
	r.P99, r.P99Reached = rank(backs, r.Clients, 99)
	r.All, r.AllReached = rank(backs, r.Clients, 100)
	if len(backs) > 0 {
		r.First = backs[0]
	}
	var stable []time.Duration
	for _, c := range f.clients {
		if d := c.lastBack.Load(); d > 0 && c.conn.Load() != nil {
			stable = append(stable, time.Duration(d))
		}
	}
	slices.Sort(stable)
	r.StableP50, r.StableP50Reached = rank(stable, r.Clients, 50)
	r.StableP99, r.StableP99Reached = rank(stable, r.Clients, 99)
	r.StableAll, r.StableAllReached = rank(stable, r.Clients, 100)
	return r
}

// settledSince reports whether every client is back and connected, and
// nothing dropped or reconnected for hold.
func (f *fleet) settledSince(now time.Time, hold time.Duration) bool {
	return f.backCount() == len(f.clients) && f.up.Load() == int64(len(f.clients)) &&
		now.Sub(time.Unix(0, f.lastEvent.Load())) >= hold
}

// rank is the p-th percentile, by nearest rank, of n values of which
// sorted are the known ones and the others are infinite; false when it
// falls on an infinite one (then the largest known value is returned).
func rank(sorted []time.Duration, n int, p float64) (time.Duration, bool) {
	if n == 0 {
		return 0, false
	}
	r := max(1, min(int(math.Ceil(float64(n)*p/100)), n))
	if r > len(sorted) {
		if len(sorted) == 0 {
			return 0, false
		}
		return sorted[len(sorted)-1], false
	}
	return sorted[r-1], true
}

// close disconnects every client (DISCONNECT: the sessions stay) and
// waits for their goroutines.
func (f *fleet) close() {
	f.cancel()
	for _, c := range f.clients {
		if m := c.conn.Load(); m != nil {
			m.disconnect()
		}
	}
	f.wg.Wait()
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func copyMap(m map[string]int) map[string]int {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
