package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/triadmq/triad/election"
)

// waitInSync waits until the in-sync set in etcd lists want followers.
func (c *cluster) waitInSync(want int) election.InSync {
	c.t.Helper()
	var is election.InSync
	waitFor(c.t, 20*time.Second, fmt.Sprintf("in-sync set of %d", want), func() bool {
		var err error
		is, err = c.inSync()
		return err == nil && len(is.Members) == want
	})
	return is
}

// inSync reads the in-sync set from etcd.
func (c *cluster) inSync() (election.InSync, error) {
	var is election.InSync
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.l.EtcdEndpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return is, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, election.NewKeys(clusterName).InSync())
	if err != nil {
		return is, err
	}
	if len(resp.Kvs) != 1 {
		return is, fmt.Errorf("no in-sync set in etcd")
	}
	return is, json.Unmarshal(resp.Kvs[0].Value, &is)
}

// TestClusterReplicationFailoverLosesNothing: with both followers in sync,
// every QoS 1 and QoS 2 message acknowledged by the leader to a publisher
// while a persistent subscriber is offline, and a retained message, are on
// the new leader after a kill -9 of the old one: the subscriber gets every
// message, QoS 2 exactly once.
func TestClusterReplicationFailoverLosesNothing(t *testing.T) {
	const perQoS = 40
	c := newCluster(t)
	leader := c.leader()
	is := c.waitInSync(2)
	t.Logf("leader %s, in sync %v", leader, is.Members)
	waitFor(t, 10*time.Second, "the leader's metrics to count 2 in-sync followers", func() bool {
		resp, err := probeHTTP.Get("http://" + c.node(leader).HTTPAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(body), "\ntriad_replication_in_sync_followers 2\n") &&
			strings.Contains(string(body), "\ntriad_replication_degraded 0\n")
	})

	sub := newRawClient("rep-sub")
	if _, err := sub.connect(c.node(leader).MQTTAddr, map[string]byte{"rep/q1": 1, "rep/q2": 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return sub.subacked() == 1 })
	sub.disconnect(true)

	pub, _ := mustDialV311(t, "tcp://"+c.node(leader).MQTTAddr, "rep-pub", true, nil)
	q1, q2 := seqPayloads("q1", perQoS), seqPayloads("q2", perQoS)
	for i := range perQoS {
		pubV311(t, pub, "rep/q1", 1, false, q1[i])
		pubV311(t, pub, "rep/q2", 2, false, q2[i])
	}
	pubV311(t, pub, "rep/retained", 1, true, "kept")
	pub.Disconnect(100)

	killed := c.kill(leader)
	next, at := c.waitLeader(10*time.Second, c.others(leader)...)
	t.Logf("killed %s; %s leads after %v", leader, next, at.Sub(killed).Round(time.Millisecond))

	present, err := sub.connect(c.node(next).MQTTAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !present {
		t.Fatalf("the new leader %s does not know the persistent session", next)
	}
	want := append(append([]string(nil), q1...), q2...)
	waitFor(t, 20*time.Second, "every acknowledged message on the new leader", func() bool {
		_, count := sub.snapshot()
		for _, p := range want {
			if count[p] == 0 {
				return false
			}
		}
		return true
	})
	got, count := sub.snapshot()
	var gotQ1, gotQ2 []string
	for _, p := range got {
		switch {
		case strings.HasPrefix(p, "q1-"):
			gotQ1 = append(gotQ1, p)
		case strings.HasPrefix(p, "q2-"):
			gotQ2 = append(gotQ2, p)
		}
	}
	checkDelivered(t, "QoS 1 after failover", gotQ1, q1, true)
	checkDelivered(t, "QoS 2 after failover", gotQ2, q2, false)
	for _, p := range q2 {
		if count[p] != 1 {
			t.Errorf("QoS 2 %s delivered %d times", p, count[p])
		}
	}
	sub.disconnect(true)

	log := newMsgLog()
	fresh, _ := mustDialV311(t, "tcp://"+c.node(next).MQTTAddr, "rep-fresh", true, log)
	defer fresh.Disconnect(100)
	subV311(t, fresh, map[string]byte{"rep/retained": 1})
	waitFor(t, 10*time.Second, "the retained message on the new leader", func() bool {
		return contains(log.payloads("rep/retained"), "kept")
	})
}
