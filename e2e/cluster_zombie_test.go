package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// lateConns is how many connections the zombie test opens to the frozen
// leader.
const lateConns = 16

// TestClusterZombieLeader freezes the leader (SIGSTOP) until another node
// leads, has the kernel of the frozen leader buffer a QoS 1 PUBLISH on an
// established client connection and a CONNECT on each of several new
// ones, then resumes it (SIGCONT). Self-fencing: the resumed node must not
// acknowledge a single packet (no PUBACK, no CONNACK) and must close
// every one of these connections, must never answer /leader with 200
// again, must become a follower, and the message must not reach a
// subscriber of the new leader.
func TestClusterZombieLeader(t *testing.T) {
	c := newCluster(t)
	old := c.leader()
	oldAddr := c.node(old).MQTTAddr
	pid := c.s.PID(old)

	oldEpoch := c.httpStatus(old).Epoch
	conn1 := rawConnect(t, oldAddr, "zombie-pub")
	defer conn1.Close()

	c.signal(old, syscall.SIGSTOP)
	stoppedAt := time.Now()
	waitFor(t, 5*time.Second, old+" stopped", func() bool { return procState(pid) == "T" })
	leader, seen := c.waitLeader(15*time.Second, c.others(old)...)
	t.Logf("froze leader %s (pid %d); %s answered /leader 200 after %v", old, pid, leader, seen.Sub(stoppedAt).Round(time.Millisecond))
	newEpoch := c.httpStatus(leader).Epoch

	log := newMsgLog()
	sub, _ := mustDialV311(t, "tcp://"+c.node(leader).MQTTAddr, "zombie-sub", true, log)
	defer sub.Disconnect(250)
	const topic, payload = "zombie/t", "from the zombie"
	subV311(t, sub, map[string]byte{topic: 1})

	// The old leader is frozen: its kernel takes these bytes for it.
	if _, err := conn1.Write(publishPacket(t, topic, 1, 7, []byte(payload))); err != nil {
		t.Fatalf("write PUBLISH to the frozen leader: %v", err)
	}
	// New connections, each with a CONNECT: several, so that some are
	// still in the accept queue, or being accepted, when the resumed node
	// closes its listener.
	late := make([]net.Conn, lateConns)
	for i := range late {
		conn, err := net.DialTimeout("tcp", oldAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("the frozen leader's kernel did not complete TCP handshake %d on %s: %v", i, oldAddr, err)
		}
		defer conn.Close()
		if _, err := conn.Write(connectPacket(t, fmt.Sprintf("zombie-late-%d", i), "MQTT", 4)); err != nil {
			t.Fatalf("write CONNECT %d to the frozen leader: %v", i, err)
		}
		late[i] = conn
	}
	if st := procState(pid); st != "T" {
		t.Fatalf("%s (pid %d) is in state %q, not stopped, before SIGCONT", old, pid, st)
	}

	// Resume it, and ask its /status from the first moment on: it must
	// never serve, or claim to lead, in its old epoch. (It may lead again
	// in a new epoch if the cluster elects it: that is a new term, not a
	// zombie.)
	c.signal(old, syscall.SIGCONT)
	resumedAt := time.Now()
	leaderAnswers := make(chan []string, 1)
	go func() {
		var bad []string
		for time.Since(resumedAt) < 3*time.Second {
			var st nodeHTTPStatus
			if err := c.getJSON(old, "/status", &st); err == nil && st.Epoch == oldEpoch && (st.Serving || st.Role == "leader") {
				bad = append(bad, fmt.Sprintf("%s serving=%v in epoch %d at +%v", st.Role, st.Serving, st.Epoch,
					time.Since(resumedAt).Round(time.Millisecond)))
			}
			time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
		}
		leaderAnswers <- bad
	}()

	var wg sync.WaitGroup
	var open atomic.Int32
	check := func(conn net.Conn, what string) {
		if !expectClosedSilently(t, conn, what) {
			open.Add(1)
		}
	}
	wg.Go(func() { check(conn1, "the connection that sent PUBLISH while frozen") })
	for i, conn := range late {
		wg.Go(func() { check(conn, fmt.Sprintf("connection %d opened while frozen", i)) })
	}
	wg.Wait()
	if n := open.Load(); n > 0 {
		t.Errorf("%d of %d client connections to the resumed old leader were neither answered nor closed within 5s; its sockets:\n%s",
			n, 1+lateConns, sockets(oldAddr))
	}

	if bad := <-leaderAnswers; len(bad) > 0 {
		t.Errorf("the resumed old leader %s acted as leader of its old epoch %d after SIGCONT: %v", old, oldEpoch, bad)
	}
	now := c.leader()
	if hs := c.httpStatus(now); now != leader || hs.Epoch != newEpoch {
		// Rare, and not a zombie: the new leader lost its term (its lease,
		// in an etcd disturbed by the frozen member) and the cluster
		// elected again, that node or another. The old epoch must be over.
		t.Logf("after the old leader resumed the cluster elected %s (epoch %d); %s had led from epoch %d", now, hs.Epoch, old, oldEpoch)
		if hs.Epoch <= oldEpoch {
			t.Errorf("%s leads in epoch %d, not after the frozen leader's epoch %d", now, hs.Epoch, oldEpoch)
		}
		leader = now
		// The subscriber's connection went with the leader it was on:
		// subscribe again on the one that leads now.
		sub.Disconnect(0)
		sub, _ = mustDialV311(t, "tcp://"+c.node(leader).MQTTAddr, "zombie-sub", true, log)
		defer sub.Disconnect(250)
		subV311(t, sub, map[string]byte{topic: 1})
	}
	if leader != old {
		c.waitCode(10*time.Second, old, http.MethodGet, "/replica", http.StatusOK)
		if code := c.code(old, http.MethodGet, "/leader"); code != http.StatusServiceUnavailable {
			t.Errorf("the resumed old leader %s: GET /leader %d, want 503", old, code)
		}
		if hs := c.httpStatus(old); hs.Role != "follower" || hs.Serving {
			t.Errorf("the resumed old leader %s: GET /status %+v, want role follower, not serving", old, hs)
		}
	}

	// A marker published through the new leader arrives; the zombie's
	// message must not have arrived before it, nor with it.
	pub, _ := mustDialV311(t, "tcp://"+c.node(leader).MQTTAddr, "zombie-marker", true, nil)
	defer pub.Disconnect(250)
	pubV311(t, pub, topic, 1, false, "marker")
	waitFor(t, 10*time.Second, "the marker at the subscriber", func() bool { return contains(log.payloads(topic), "marker") })
	if got := log.payloads(topic); contains(got, payload) {
		t.Errorf("the subscriber on the new leader received the message sent to the frozen old leader: %q", got)
	}
}

// rawConnect opens an MQTT 3.1.1 connection (clean session) and reads the
// CONNACK, which must accept it.
func rawConnect(t *testing.T, addr, id string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(connectPacket(t, id, "MQTT", 4)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, len(connackAccepted))
	if _, err := io.ReadFull(conn, ack); err != nil || !bytes.Equal(ack, connackAccepted) {
		t.Fatalf("CONNACK for %s: % x, %v", id, ack, err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	return conn
}

// expectClosedSilently reads conn until the peer closes it (EOF or reset:
// the pass) or 5s pass (a fail: still open; it returns false). Any byte
// read is an error: nothing was owed to the client but an acknowledgement
// it must not get.
func expectClosedSilently(t *testing.T, conn net.Conn, what string) bool {
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Error(err)
		return true
	}
	got, err := io.ReadAll(conn)
	if len(got) > 0 {
		t.Errorf("%s: the resumed old leader wrote % x (%s)", what, got, describeMQTT(got))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: still open 5s after SIGCONT; want it closed by the fenced old leader", what)
		return false
	}
	return true
}

// sockets lists the TCP sockets on addr's port with their owners (ss -tanp),
// to tell a connection a process holds from one in a listen queue.
func sockets(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err.Error()
	}
	out, err := exec.Command("ss", "-tanp", "( sport = :"+port+" or dport = :"+port+" )").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(ss: %v) %s", err, out)
	}
	return string(out)
}

// describeMQTT names the control packets in b.
func describeMQTT(b []byte) string {
	names := map[byte]string{2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 9: "SUBACK", 13: "PINGRESP", 14: "DISCONNECT"}
	var out []string
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		h, err := r.ReadByte()
		if err != nil {
			break
		}
		name, ok := names[h>>4]
		if !ok {
			name = fmt.Sprintf("type %d", h>>4)
		}
		out = append(out, name)
		n, _, err := packets.DecodeLength(r)
		if err != nil || n > r.Len() {
			out = append(out, "(truncated)")
			break
		}
		if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
			break
		}
	}
	return strings.Join(out, ", ")
}

// procState is the state letter of process pid in /proc (T: stopped), ""
// if it cannot be read.
func procState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// pid (comm) S ...: comm may hold spaces, so look after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return ""
	}
	return string(data[i+2])
}
