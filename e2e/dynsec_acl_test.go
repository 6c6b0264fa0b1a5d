package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
)

// dialV5As connects an MQTT 5 client with credentials and returns the
// CONNACK reason code; the client is nil when the connection was refused.
func dialV5As(t *testing.T, addr, id, user, pass string, log *msgLog) (*paho5.Client, byte) {
	t.Helper()
	cp := &paho5.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}
	if user != "" {
		cp.UsernameFlag, cp.Username = true, user
		cp.PasswordFlag, cp.Password = true, []byte(pass)
	}
	c, ack, err := connectV5(t, addr, cp, log)
	if ack == nil {
		t.Fatalf("MQTT 5 connect %s as %q: no CONNACK: %v", id, user, err)
	}
	if ack.ReasonCode != 0 {
		return nil, ack.ReasonCode
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho5.Disconnect{}) })
	return c, 0
}

func subReasons(t *testing.T, c *paho5.Client, filters ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var subs []paho5.SubscribeOptions
	for _, f := range filters {
		subs = append(subs, paho5.SubscribeOptions{Topic: f, QoS: 1})
	}
	ack, err := c.Subscribe(ctx, &paho5.Subscribe{Subscriptions: subs})
	if ack == nil {
		t.Fatalf("subscribe %v: %v", filters, err)
	}
	return ack.Reasons
}

func pubReason(t *testing.T, c *paho5.Client, topic string, qos byte, retain bool, payload string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Publish(ctx, &paho5.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)})
	if qos == 0 {
		if err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
		return 0
	}
	if resp == nil {
		t.Fatalf("publish %s: no acknowledgement: %v", topic, err)
	}
	return resp.ReasonCode
}

// TestDynsecAuthentication checks CONNECT against the fixture: unknown
// users, wrong passwords, disabled clients, client-id restrictions and
// anonymous clients are refused with 0x87 (MQTT 5) or return code 5
// (MQTT 3.1.1), as Mosquitto refuses them.
func TestDynsecAuthentication(t *testing.T) {
	n := newDynsecNode(t, "")
	n.start()
	for _, c := range []struct{ what, id, user, pass string }{
		{"unknown user", "x1", "nobody", "x"},
		{"wrong password", "x2", "bob", "wrong"},
		{"disabled client", "x3", "mallory", "mallorypass"},
		{"client id restriction", "not-alice", "alice", "alicepass"},
		{"anonymous (allow_anonymous false)", "x4", "", ""},
	} {
		if cl, code := dialV5As(t, n.mqttAddr, c.id, c.user, c.pass, nil); cl != nil || code != 0x87 {
			t.Errorf("%s: MQTT 5 CONNACK %#x, want 0x87", c.what, code)
		}
		args := []string{"-V", "mqttv311", "-i", c.id, "-t", "t", "-m", "m"}
		if c.user != "" {
			args = append(args, "-u", c.user, "-P", c.pass)
		}
		if _, errOut, code := mosq(t, n, "mosquitto_pub", args...); code == 0 || !strings.Contains(errOut, "not authorised") {
			t.Errorf("%s: mosquitto_pub (3.1.1) exit %d, stderr %q; want refused, not authorised", c.what, code, errOut)
		}
	}
	if cl, code := dialV5As(t, n.mqttAddr, "alice-device", "alice", "alicepass", nil); cl == nil {
		t.Fatalf("alice with her client id: CONNACK %#x", code)
	}
	mustMosq(t, n, "mosquitto_pub", "-V", "mqttv311", "-u", "bob", "-P", "bobpass", "-t", "commands/x", "-m", "m")
}

// TestDynsecAnonymousGroup checks that with allow_anonymous an anonymous
// client connects and gets the anonymous group's roles (guests: readonly,
// subscribePattern public/#) and nothing else.
func TestDynsecAnonymousGroup(t *testing.T) {
	n := newDynsecNode(t, "  allow_anonymous: true\n")
	n.start()
	anon, code := dialV5As(t, n.mqttAddr, "anon", "", "", nil)
	if anon == nil {
		t.Fatalf("anonymous with allow_anonymous: CONNACK %#x", code)
	}
	if got := subReasons(t, anon, "public/#", "private/#"); string(got) != "\x01\x87" {
		t.Fatalf("anonymous subscribe public/#, private/#: reasons % x, want 01 87", got)
	}
	if rc := pubReason(t, anon, "public/x", 1, false, "m"); rc != 0x87 {
		t.Fatalf("anonymous publish (default publishClientSend deny): reason %#x, want 0x87", rc)
	}
}

// TestDynsecPublishSubscribeReceive checks the ACL types on a node seeded
// with Mosquitto's file plus a role set up through mosquitto_ctrl: publish
// (MQTT 5: PUBACK 0x87; 3.1.1: acknowledged and dropped), subscribe
// (literal before pattern, priorities), receive (live and retained) and
// unsubscribe (0x87, the subscription kept), and %c substitution.
func TestDynsecPublishSubscribeReceive(t *testing.T) {
	n := newDynsecNode(t, "")
	n.start()
	adminCtrl(t, n, "", "createRole", "watcher")
	adminCtrl(t, n, "", "addRoleACL", "watcher", "subscribePattern", "#", "allow")
	adminCtrl(t, n, "", "addRoleACL", "watcher", "publishClientReceive", "private/#", "deny", "5")
	adminCtrl(t, n, "", "addRoleACL", "watcher", "unsubscribeLiteral", "keep/#", "deny")
	adminCtrl(t, n, "", "addRoleACL", "watcher", "unsubscribePattern", "#", "allow")
	adminCtrl(t, n, "", "createClient", "dave", "-p", "davepass")
	adminCtrl(t, n, "", "addClientRole", "dave", "watcher")
	adminCtrl(t, n, "", "createRole", "writer")
	adminCtrl(t, n, "", "addRoleACL", "writer", "publishClientSend", "#", "allow")
	adminCtrl(t, n, "", "createClient", "pubber", "-p", "pubpass")
	adminCtrl(t, n, "", "addClientRole", "pubber", "writer")

	pub, _ := dialV5As(t, n.mqttAddr, "pubber", "pubber", "pubpass", nil)
	if rc := pubReason(t, pub, "private/r", 1, true, "retained-private"); rc >= 0x80 {
		t.Fatalf("pubber publish: %#x", rc)
	}
	if rc := pubReason(t, pub, "public/r", 1, true, "retained-public"); rc >= 0x80 {
		t.Fatalf("pubber publish: %#x", rc)
	}

	log := newMsgLog()
	dave, code := dialV5As(t, n.mqttAddr, "dave", "dave", "davepass", log)
	if dave == nil {
		t.Fatalf("dave: CONNACK %#x", code)
	}
	if got := subReasons(t, dave, "#", "keep/#"); string(got) != "\x01\x01" {
		t.Fatalf("dave subscribe: % x", got)
	}
	for _, topic := range []string{"private/x", "public/x", "keep/x"} {
		pubReason(t, pub, topic, 1, false, "live")
	}
	waitFor(t, 10*time.Second, "dave's deliveries", func() bool {
		return len(log.get("public/x")) >= 1 && len(log.get("keep/x")) >= 1 && len(log.get("public/r")) >= 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ua, err := dave.Unsubscribe(ctx, &paho5.Unsubscribe{Topics: []string{"keep/#"}})
	if ua == nil || len(ua.Reasons) != 1 || ua.Reasons[0] != 0x87 {
		t.Fatalf("dave unsubscribe keep/# (unsubscribeLiteral deny): %+v, %v; want reason 0x87", ua, err)
	}
	pubReason(t, pub, "keep/y", 1, false, "after-unsubscribe")
	pubReason(t, pub, "public/y", 1, false, "marker")
	waitFor(t, 10*time.Second, "the marker", func() bool { return len(log.get("public/y")) == 1 })
	if got := log.get("keep/y"); len(got) != 1 {
		t.Fatalf("after a denied unsubscribe dave got %v on keep/y; the subscription must be kept", got)
	}
	for _, topic := range []string{"private/x", "private/r"} {
		if got := log.get(topic); len(got) != 0 {
			t.Fatalf("dave received %s %v despite publishClientReceive deny", topic, got)
		}
	}

	// bob (role operator): subscribeLiteral sensors/# allow 5, secret/#
	// deny 10; publishClientSend commands/# allow. Default: publish and
	// subscribe deny.
	bob, _ := dialV5As(t, n.mqttAddr, "bob-5", "bob", "bobpass", nil)
	if got := subReasons(t, bob, "sensors/#", "secret/#", "sensors/+", "commands/#"); string(got) != "\x01\x87\x87\x87" {
		t.Fatalf("bob subscribe sensors/#, secret/#, sensors/+, commands/#: % x, want 01 87 87 87", got)
	}
	if rc := pubReason(t, bob, "commands/go", 1, false, "m"); rc >= 0x80 {
		t.Fatalf("bob publish commands/go: %#x", rc)
	}
	if rc := pubReason(t, bob, "other/x", 1, false, "m"); rc != 0x87 {
		t.Fatalf("bob publish other/x (MQTT 5): %#x, want 0x87", rc)
	}
	if rc := pubReason(t, bob, "other/x", 2, false, "m"); rc != 0x87 {
		t.Fatalf("bob publish other/x QoS 2 (MQTT 5): PUBREC %#x, want 0x87", rc)
	}
	// MQTT 3.1.1 has no reason codes: the denied publish is acknowledged
	// and dropped, the connection kept (Mosquitto's behaviour).
	mustMosq(t, n, "mosquitto_pub", "-V", "mqttv311", "-u", "bob", "-P", "bobpass", "-q", "1", "-t", "public/denied", "-m", "v3")
	pubReason(t, pub, "public/z", 1, false, "marker")
	waitFor(t, 10*time.Second, "the second marker", func() bool { return len(log.get("public/z")) == 1 })
	if got := log.get("public/denied"); len(got) != 0 {
		t.Fatalf("a denied MQTT 3.1.1 publish was delivered: %v", got)
	}

	// alice (group devices, role sensor: publishClientSend sensors/%c/#):
	// %c is her client id.
	alice, _ := dialV5As(t, n.mqttAddr, "alice-device", "alice", "alicepass", nil)
	if rc := pubReason(t, alice, "sensors/alice-device/t", 1, false, "m"); rc >= 0x80 {
		t.Fatalf("alice publish sensors/alice-device/t: %#x", rc)
	}
	if rc := pubReason(t, alice, "sensors/bob-device/t", 1, false, "m"); rc != 0x87 {
		t.Fatalf("alice publish sensors/bob-device/t: %#x, want 0x87", rc)
	}
}
