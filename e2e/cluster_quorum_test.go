package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// quorumLossBound is how soon a leader cut off from etcd's quorum must
// stop serving: lease TTL + 1s.
const quorumLossBound = clusterTTL + time.Second

// raftLeaderKills is how many times the test kills the follower that
// hosts etcd's raft leader while the leader must keep serving.
const raftLeaderKills = 3

// TestClusterEtcdMemberLoss: the leader keeps serving when one follower
// (with its etcd member) dies, whether or not that member is etcd's raft
// leader: etcd keeps its quorum, so nothing is lost but a blip. When the
// second follower dies too, the leader has no quorum and must stop
// serving within TTL + 1s: /leader 503, clients dropped, MQTT port closed.
// Both followers restarted, a leader appears again.
func TestClusterEtcdMemberLoss(t *testing.T) {
	c := newCluster(t)

	// 1. A follower whose etcd member is not the raft leader.
	leader := c.leader()
	raft := c.raftLeaderOff(leader)
	victim := c.others(leader, raft)[0]
	t.Logf("leader %s, etcd raft leader %s: killing follower %s", leader, raft, victim)
	c.checkKeepsServing(leader, victim, "follower")
	c.restart()
	c.waitSettled(15 * time.Second)

	// 2. The follower whose etcd member is the raft leader: etcd elects
	// another after a randomised election timeout (500ms to 1s), so the
	// outcome varies: up to raftLeaderKills tries, each restarting the
	// victim but the last.
	for try := 1; try <= raftLeaderKills; try++ {
		leader = c.leader()
		raft = c.raftLeaderOff(leader)
		t.Logf("try %d: leader %s: killing follower %s, the etcd raft leader", try, leader, raft)
		c.checkKeepsServing(leader, raft, fmt.Sprintf("raft-leader-%d", try))
		if try == raftLeaderKills || t.Failed() {
			break
		}
		c.restart()
		c.waitSettled(15 * time.Second)
	}

	// 3. The second follower: no quorum.
	live := c.others(raft)
	leader, _ = c.waitLeader(10*time.Second, live...)
	second := c.others(raft, leader)[0]
	lost := make(chan connLost, 1)
	cl := dialWatched(t, c.node(leader).MQTTAddr, "quorum-watch", lost)
	defer cl.Disconnect(0)
	killedAt := c.kill(second)
	t.Logf("killed the second follower %s: %s has no etcd quorum", second, leader)
	leaderGone := waitUntil(10*time.Second, func() bool {
		return c.code(leader, http.MethodGet, "/leader") == http.StatusServiceUnavailable
	})
	refused := waitUntil(10*time.Second, func() bool { ok, _ := dialRefused(c.node(leader).MQTTAddr); return ok })
	clientLost := moment{}
	select {
	case l := <-lost:
		clientLost = moment(l.at)
		t.Logf("the client of %s lost its connection: %v", leader, l.err)
	case <-time.After(10 * time.Second):
	}
	for _, m := range []struct {
		what string
		at   moment
	}{
		{"GET /leader answers 503 (first seen)", leaderGone},
		{"its MQTT port refuses connections (first seen)", refused},
		{"a connected client loses its connection", clientLost},
	} {
		d := since(m.at, killedAt)
		t.Logf("quorum lost: %s after %v", m.what, d.Round(time.Millisecond))
		if d < 0 || d > quorumLossBound {
			t.Errorf("quorum lost at the kill of %s: %s after %v (-1: never), want within %v (TTL + 1s)",
				second, m.what, d.Round(time.Millisecond), quorumLossBound)
		}
	}
	if got := c.leaders(live); len(got) > 0 {
		t.Errorf("without etcd quorum, %v answer /leader 200", got)
	}

	// 4. Both followers back: a leader again.
	c.restart()
	l, _ := c.waitLeader(30*time.Second, c.names()...)
	t.Logf("both followers restarted: %s leads", l)
	c.waitSettled(15 * time.Second)
}

// raftLeaderOff waits until etcd's raft leader is a node other than
// leader (the Triad leader moves it away) and returns that node.
func (c *cluster) raftLeaderOff(leader string) string {
	c.t.Helper()
	var raft string
	waitFor(c.t, 10*time.Second, "etcd raft leadership away from "+leader, func() bool {
		raft = c.raftLeader()
		return raft != leader
	})
	return raft
}

// checkKeepsServing kills follower victim and checks that leader answers
// /leader 200 for 3 TTLs from the kill on, keeps its MQTT clients and
// routes a QoS 1 message. Failures are errors, not fatal: the test goes on
// with whichever node leads.
func (c *cluster) checkKeepsServing(leader, victim, tag string) {
	t := c.t
	lost := make(chan connLost, 1)
	cl := dialWatched(t, c.node(leader).MQTTAddr, "keep-"+tag, lost)
	defer cl.Disconnect(0)
	log := newMsgLog()
	topic := "quorum/" + tag
	onMessage := func(_ paho.Client, m paho.Message) { log.add(m.Topic(), string(m.Payload()), m.Retained()) }
	if tok := cl.Subscribe(topic, 1, onMessage); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}

	killedAt := c.kill(victim)
	var down []string
	for end := killedAt.Add(3 * clusterTTL); time.Now().Before(end); {
		if code := c.code(leader, http.MethodGet, "/leader"); code != http.StatusOK {
			down = append(down, fmt.Sprintf("%d at +%v", code, time.Since(killedAt).Round(time.Millisecond)))
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	if len(down) > 0 {
		t.Errorf("%s: leader %s stopped answering /leader 200 after follower %s was killed (etcd kept its quorum): %d of the polls in %v failed, first %v",
			tag, leader, victim, len(down), 3*clusterTTL, down[0])
	}
	select {
	case l := <-lost:
		t.Errorf("%s: leader %s dropped its MQTT client %v after follower %s was killed: %v",
			tag, leader, l.at.Sub(killedAt).Round(time.Millisecond), victim, l.err)
		return
	default:
	}
	payload := "still serving after " + victim
	tok := cl.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Errorf("%s: publish through %s after %s was killed: not acknowledged: %v", tag, leader, victim, tok.Error())
		return
	}
	if !waitUntil(10*time.Second, func() bool { return contains(log.payloads(topic), payload) }).ok() {
		t.Errorf("%s: QoS 1 message through %s not delivered after %s was killed", tag, leader, victim)
	}
}

// connLost is a paho client's loss of its connection.
type connLost struct {
	at  time.Time
	err error
}

// dialWatched connects a paho client with no automatic reconnect whose
// connection loss is sent on lost.
func dialWatched(t *testing.T, addr, id string, lost chan<- connLost) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).SetWriteTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- connLost{time.Now(), err}:
			default:
			}
		})
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s to %s: %v", id, addr, tok.Error())
	}
	return cl
}

// moment is when a polled condition first held (zero: never).
type moment time.Time

func (m moment) ok() bool { return !time.Time(m).IsZero() }

// waitUntil polls cond every 20ms for up to timeout and returns when it
// first held.
func waitUntil(timeout time.Duration, cond func() bool) moment {
	if poll(timeout, cond) {
		return moment(time.Now())
	}
	return moment{}
}

// since is how long after t0 m happened; -1 if it never did.
func since(m moment, t0 time.Time) time.Duration {
	if !m.ok() {
		return -1
	}
	return time.Time(m).Sub(t0)
}
