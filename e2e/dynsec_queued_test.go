package e2e

import (
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
)

// TestDynsecQueuedMessagesRechecked checks that messages queued for an
// offline persistent session are checked again when it reconnects: the
// ones its role no longer lets it receive are dropped (for good: not
// redelivered at the next reconnect), the others delivered.
func TestDynsecQueuedMessagesRechecked(t *testing.T) {
	n := newDynsecNode(t, "")
	n.start()
	adminCtrl(t, n, "", "createRole", "reader")
	adminCtrl(t, n, "", "addRoleACL", "reader", "subscribePattern", "q/#", "allow")
	adminCtrl(t, n, "", "createClient", "dave", "-p", "davepass")
	adminCtrl(t, n, "", "addClientRole", "dave", "reader")
	adminCtrl(t, n, "", "createRole", "writer")
	adminCtrl(t, n, "", "addRoleACL", "writer", "publishClientSend", "q/#", "allow")
	adminCtrl(t, n, "", "createClient", "pubber", "-p", "pubpass")
	adminCtrl(t, n, "", "addClientRole", "pubber", "writer")

	dave := dialV5Persistent(t, n.mqttAddr, "dave-1", "dave", "davepass", nil)
	if got := subReasons(t, dave, "q/#"); string(got) != "\x01" {
		t.Fatalf("dave subscribe: % x", got)
	}
	if err := dave.Disconnect(&paho5.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	pub, _ := dialV5As(t, n.mqttAddr, "pubber", "pubber", "pubpass", nil)
	pubReason(t, pub, "q/private/x", 1, false, "queued-private")
	pubReason(t, pub, "q/public/x", 1, false, "queued-public")
	// While dave is away, he loses the right to receive q/private/#.
	adminCtrl(t, n, "", "addRoleACL", "reader", "publishClientReceive", "q/private/#", "deny", "5")

	log := newMsgLog()
	dave = dialV5Persistent(t, n.mqttAddr, "dave-1", "dave", "davepass", log)
	waitFor(t, 10*time.Second, "the allowed queued message", func() bool { return len(log.get("q/public/x")) == 1 })
	pubReason(t, pub, "q/public/marker", 1, false, "marker")
	waitFor(t, 10*time.Second, "the marker", func() bool { return len(log.get("q/public/marker")) == 1 })
	if got := log.get("q/private/x"); len(got) != 0 {
		t.Fatalf("dave received a queued message he may no longer receive: %v", got)
	}
	const dropped = `triad_messages_dropped_total{reason="not_authorized"}`
	if got := scrapeMetrics(t, n)[dropped]; got != 1 {
		t.Fatalf("%s = %v, want 1", dropped, got)
	}

	// The drop is recorded: after a crash and restart the stored session
	// does not hold the message again, so there is nothing to drop.
	if err := dave.Disconnect(&paho5.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	n.kill()
	n.start()
	log = newMsgLog()
	dialV5Persistent(t, n.mqttAddr, "dave-1", "dave", "davepass", log)
	pub, _ = dialV5As(t, n.mqttAddr, "pubber-2", "pubber", "pubpass", nil)
	pubReason(t, pub, "q/public/marker2", 1, false, "marker")
	waitFor(t, 10*time.Second, "the marker after the restart", func() bool { return len(log.get("q/public/marker2")) == 1 })
	if got := log.get("q/private/x"); len(got) != 0 {
		t.Fatalf("after a restart dave received the dropped message: %v", got)
	}
	if got := scrapeMetrics(t, n)[dropped]; got != 0 {
		t.Fatalf("after a restart %s = %v: the stored session still held the dropped message", dropped, got)
	}
}

// dialV5Persistent connects an MQTT 5 client with credentials and a
// session that outlives the connection (an hour), resuming it if there
// is one.
func dialV5Persistent(t *testing.T, addr, id, user, pass string, log *msgLog) *paho5.Client {
	t.Helper()
	expiry := uint32(3600)
	c, ack, err := connectV5(t, addr, &paho5.Connect{ClientID: id, KeepAlive: 30, CleanStart: false,
		UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(pass),
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: &expiry}}, log)
	if err != nil || ack == nil || ack.ReasonCode != 0 {
		t.Fatalf("MQTT 5 connect %s as %s: %v %+v", id, user, err, ack)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho5.Disconnect{}) })
	return c
}
