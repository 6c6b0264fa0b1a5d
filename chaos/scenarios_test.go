//go:build chaos && linux

package chaos

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scenario is one fault, injected while the workload runs, and its healing.
// run returns what happened, for the log; it fails the test when the
// cluster does not behave (a partitioned leader still serving, say).
type scenario struct {
	name  string
	quick bool // part of make chaos-quick (CI)
	run   func(e *env, w *workload) string
}

// faultHold is how long a fault the cluster should ride out (a cut
// follower, lossy links, a lost etcd member, a full disk) lasts at least:
// longer in make chaos than in the CI subset.
var faultHold = 5 * time.Second

// hold keeps the fault for faultHold from since, and at least until n more
// publishes are acknowledged: the cluster goes on serving meanwhile.
func (w *workload) hold(since time.Time, n int) {
	w.waitProgress(30*time.Second, n)
	if d := faultHold - time.Since(since); d > 0 {
		time.Sleep(d) // the fault's duration, not synchronisation
	}
	w.waitProgress(30*time.Second, 1)
}

var scenarios = []scenario{
	{"leader-partitioned", true, leaderPartitioned},
	{"follower-partitioned", true, followerPartitioned},
	{"lossy-slow-links", true, lossySlowLinks},
	{"leader-killed", false, leaderKilled},
	{"leader-frozen", true, leaderFrozen},
	{"etcd-member-lost", false, etcdMemberLost},
	{"etcd-quorum-lost", true, etcdQuorumLost},
	{"haproxy-restarted", false, haproxyRestarted},
	{"lbagent-killed", true, lbagentKilled},
	{"follower-disk-full", true, followerDiskFull},
	{"follower-file-corrupt", true, followerFileCorrupt},
}

// TestChaos runs the scenarios (TRIAD_CHAOS=quick: the CI subset once;
// full: all of them TRIAD_CHAOS_ROUNDS times, default 3) under one
// workload, then checks the whole history and prints the table and the
// summary line.
func TestChaos(t *testing.T) {
	mode := os.Getenv("TRIAD_CHAOS")
	rounds := 1
	switch mode {
	case "quick":
	case "full":
		rounds, faultHold = 3, 15*time.Second
		if v := os.Getenv("TRIAD_CHAOS_ROUNDS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				t.Fatalf("TRIAD_CHAOS_ROUNDS=%q: want a whole number from 1 to 100", v)
			}
			rounds = n
		}
	default:
		t.Fatalf("TRIAD_CHAOS=%q: want quick or full (make chaos-quick, make chaos)", mode)
	}
	if only := os.Getenv("TRIAD_CHAOS_ONLY"); only != "" {
		names := strings.Split(only, ",")
		scenarios = slices.DeleteFunc(slices.Clone(scenarios), func(s scenario) bool { return !slices.Contains(names, s.name) })
	}

	e := newEnv(t)
	w := e.startWorkload()
	w.waitProgress(30*time.Second, 20)
	var windows []Window
	for round := range rounds {
		for _, s := range scenarios {
			if mode == "quick" && !s.quick {
				continue
			}
			name := s.name
			if rounds > 1 {
				name = fmt.Sprintf("%s #%d", s.name, round+1)
			}
			start := time.Now()
			what := s.run(e, w)
			e.recover()
			w.waitProgress(60*time.Second, 10)
			windows = append(windows, Window{Name: name, Start: start, End: time.Now()})
			t.Logf("%s (%v): %s", name, time.Since(start).Round(time.Millisecond), what)
		}
	}
	w.stopPublishing()
	w.drain(60 * time.Second)
	d := e.waitSameState(60 * time.Second)
	t.Logf("all nodes hold the same state: %+v", d)
	rows := Check(w.rec.Ops(), w.Subscribers, e.history(), windows)
	total := rows[len(rows)-1]
	fmt.Print(Table(rows))
	fmt.Println(Summary(len(windows), total))
	if total.Violations() > 0 {
		t.Errorf("%d guarantees broken (table above)", total.Violations())
		e.keepHistory(w.rec.Ops())
	}
}

// recover undoes every fault: links healed, processes continued and
// started again, disks freed; then it waits for a leader with both
// followers in sync.
func (e *env) recover() {
	e.t.Helper()
	if err := e.net.HealAll(); err != nil {
		e.t.Fatal(err)
	}
	for _, p := range e.all() {
		if p.Running() {
			e.signal(p, syscall.SIGCONT)
		}
	}
	for _, n := range nodeNames {
		if err := os.Remove(e.fillPath(n)); err != nil && !os.IsNotExist(err) {
			e.t.Fatal(err)
		}
	}
	for _, p := range e.all() {
		if !p.Running() {
			e.t.Logf("recover: starting %s again", p.Name)
			if p == e.hap {
				e.startHAProxy()
				continue
			}
			e.start(p)
		}
	}
	e.waitInSync(90*time.Second, 2)
}

func (e *env) followers(leader string) []string {
	return slices.DeleteFunc(slices.Clone(nodeNames), func(n string) bool { return n == leader })
}

// servingStopped waits until node no longer answers GET /leader with 200
// and refuses MQTT connections, and returns how long that took.
func (e *env) servingStopped(node string, since time.Time, timeout time.Duration) time.Duration {
	e.t.Helper()
	e.waitFor(timeout, node+" to stop serving", func() bool {
		code, _ := e.get(node, "/leader", nil)
		return code != 200 && e.mqttRefused(node)
	})
	return time.Since(since)
}

// mqttRefused reports whether a TCP connection to node's MQTT port fails.
func (e *env) mqttRefused(node string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := e.net.DialContext(ctx, "cl", e.ip(node)+":"+mqttPort)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// newLeader waits for one node other than old to lead.
func (e *env) newLeader(old string, timeout time.Duration) string {
	e.t.Helper()
	var ls []string
	e.waitFor(timeout, "a leader other than "+old, func() bool {
		ls = e.leaders()
		return len(ls) == 1 && ls[0] != old
	})
	return ls[0]
}

// leaseBound is how long a leader cut from etcd may go on serving: its
// lease TTL (2s), which the fence margin keeps it inside, plus the
// polling and probing slack of the harness.
const leaseBound = 2*time.Second + time.Second

func leaderPartitioned(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	at := time.Now()
	// Cut from etcd and the followers; HAProxy (lb) and the clients (cl)
	// still reach it.
	if err := e.net.Cut(l, append(e.followers(l), etcdNames...)...); err != nil {
		e.t.Fatal(err)
	}
	stopped := e.servingStopped(l, at, 10*time.Second)
	if stopped > leaseBound {
		e.t.Errorf("leader %s cut from etcd served %v, more than its lease allows (%v)", l, stopped, leaseBound)
	}
	next := e.newLeader(l, 20*time.Second)
	w.waitProgress(30*time.Second, 20)
	return fmt.Sprintf("leader %s cut from etcd and followers stopped serving after %v; %s leads", l, stopped.Round(time.Millisecond), next)
}

func followerPartitioned(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	f := e.followers(l)[0]
	at := time.Now()
	if err := e.net.Isolate(f); err != nil {
		e.t.Fatal(err)
	}
	w.hold(at, 50)
	if ls := e.leaders(); len(ls) != 1 || ls[0] != l {
		e.t.Errorf("leaders after follower %s was cut off: %v, want %s alone", f, ls, l)
	}
	return fmt.Sprintf("follower %s cut off; leader %s went on", f, l)
}

func lossySlowLinks(e *env, w *workload) string {
	var how string
	at := time.Now()
	for _, n := range nodeNames {
		var err error
		if how, err = e.net.Degrade(n, 5, 20*time.Millisecond, 4096); err != nil {
			e.t.Fatal(err)
		}
	}
	w.hold(at, 50)
	return "every node's link degraded: " + how
}

func leaderKilled(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	e.kill(e.nodes[l])
	next := e.newLeader(l, 20*time.Second)
	w.waitProgress(30*time.Second, 20)
	return fmt.Sprintf("leader %s killed (-9); %s leads", l, next)
}

func leaderFrozen(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	e.signal(e.nodes[l], syscall.SIGSTOP)
	next := e.newLeader(l, 20*time.Second)
	w.waitProgress(30*time.Second, 20)
	e.signal(e.nodes[l], syscall.SIGCONT)
	return fmt.Sprintf("leader %s frozen (SIGSTOP); %s leads; %s resumed", l, next, l)
}

func etcdMemberLost(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	at := time.Now()
	e.kill(e.etcd["e1"])
	w.hold(at, 50)
	if ls := e.leaders(); len(ls) != 1 || ls[0] != l {
		e.t.Errorf("leaders after losing one etcd member: %v, want %s alone", ls, l)
	}
	return fmt.Sprintf("etcd member e1 killed (-9); %s kept leading", l)
}

func etcdQuorumLost(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	at := time.Now()
	e.kill(e.etcd["e2"])
	e.kill(e.etcd["e3"])
	stopped := e.servingStopped(l, at, 10*time.Second)
	if stopped > leaseBound {
		e.t.Errorf("leader %s served %v after etcd lost its quorum, more than its lease allows (%v)", l, stopped, leaseBound)
	}
	// Nobody may lead without etcd.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if ls := e.leaders(); len(ls) > 0 {
			e.t.Errorf("%v answer /leader 200 while etcd has no quorum", ls)
			break
		}
		time.Sleep(100 * time.Millisecond) // sampling interval
	}
	return fmt.Sprintf("etcd members e2, e3 killed (-9): leader %s stopped serving after %v", l, stopped.Round(time.Millisecond))
}

func haproxyRestarted(e *env, w *workload) string {
	e.kill(e.hap)
	e.startHAProxy()
	w.waitProgress(30*time.Second, 20)
	return "HAProxy killed (-9) and started again"
}

func lbagentKilled(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	e.kill(e.agent)
	e.kill(e.nodes[l])
	next := e.newLeader(l, 20*time.Second)
	// Only HAProxy's own health checks can move the clients now.
	w.waitProgress(30*time.Second, 20)
	return fmt.Sprintf("triad-lbagent killed, then leader %s; HAProxy's checks moved clients to %s", l, next)
}

func (e *env) fillPath(node string) string { return e.dataDir(node) + "/chaos-fill" }

func followerDiskFull(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	f := e.followers(l)[0]
	// Fill the follower's tmpfs: dd stops at ENOSPC.
	at := time.Now()
	err := run("dd", "if=/dev/zero", "of="+e.fillPath(f), "bs=1M", "count=1024")
	if err == nil || !strings.Contains(err.Error(), "No space left") {
		e.t.Fatalf("filling %s's disk: want ENOSPC, got %v", f, err)
	}
	// Pages freed in the state file take writes for a while: retained
	// messages, 4 MiB at a time, until the follower's state file must grow
	// (at most 128 MiB; a state file grows long before).
	var st nodeStatus
	failing := func() bool {
		st = nodeStatus{} // absent fields must not keep old values
		code, _ := e.get(f, "/status", &st)
		return code == 200 && !st.Healthy && st.StoreError != ""
	}
	bulk := 0
	for ; bulk < 32*16 && !failing(); bulk += 16 {
		w.bulk(bulk, 16, 256<<10)
	}
	e.waitFor(30*time.Second, f+" to report its store failing", failing)
	w.hold(at, 100)
	if ls := e.leaders(); len(ls) != 1 || ls[0] != l {
		e.t.Errorf("leaders after follower %s's disk filled: %v, want %s alone", f, ls, l)
	}
	if !e.nodes[f].Running() {
		e.t.Errorf("%s exited when its disk filled; want it to wait for space", f)
	}
	// Space again: it must recover by itself, without a restart.
	if err := os.Remove(e.fillPath(f)); err != nil {
		e.t.Fatal(err)
	}
	why := st.StoreError
	e.waitFor(30*time.Second, f+" healthy again", func() bool {
		st = nodeStatus{}
		code, _ := e.get(f, "/status", &st)
		return code == 200 && st.Healthy && st.StoreError == ""
	})
	w.clearBulk(bulk)
	return fmt.Sprintf("follower %s's disk full after %d MiB more: unhealthy (%s), leader %s went on; healthy again once space was freed", f, bulk/4, why, l)
}

// nodeStatus is the part of a node's GET /status the harness reads.
type nodeStatus struct {
	Healthy    bool   `json:"healthy"`
	StoreError string `json:"store_error"`
}

func followerFileCorrupt(e *env, w *workload) string {
	l := e.leader(10 * time.Second)
	f := e.followers(l)[0]
	if err := e.nodes[f].Stop(10 * time.Second); err != nil {
		e.t.Fatal(err)
	}
	path := e.dataDir(f) + "/state.db"
	if err := corrupt(path); err != nil {
		e.t.Fatal(err)
	}
	e.start(e.nodes[f])
	exited, _ := e.nodes[f].Wait(30 * time.Second)
	if !exited {
		e.t.Fatalf("%s started on a corrupt state file and is still running", f)
	}
	log, err := os.ReadFile(e.nodes[f].Log)
	if err != nil {
		e.t.Fatal(err)
	}
	tail := lastLines(string(log), 5)
	if !strings.Contains(tail, "corrupt") || !strings.Contains(tail, "triadctl reinit "+f) {
		e.t.Errorf("%s refused its corrupt file without saying so and how to repair it; its log ends:\n%s", f, tail)
	}
	out, err := e.ctl("reinit", f, "--config", e.configPath(f))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("triadctl reinit %s: %s", f, strings.TrimSpace(out))
	e.start(e.nodes[f])
	e.waitInSync(60*time.Second, 2)
	w.waitProgress(30*time.Second, 20)
	return fmt.Sprintf("follower %s's state file corrupted: it refused to start; triadctl reinit %s re-seeded it", f, f)
}

// corrupt overwrites both bbolt meta pages of the file at path (its first
// two 4 KiB pages past the header bytes) and a stretch in its middle.
func corrupt(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	junk := []byte(strings.Repeat("chaos!", 700))
	for _, off := range []int64{16, 4096 + 16, st.Size() / 2} {
		if _, err := f.WriteAt(junk, off); err != nil {
			return fmt.Errorf("corrupt %s: %w", path, err)
		}
	}
	return f.Sync()
}
