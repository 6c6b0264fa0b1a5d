package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
)

// kickWatch is an MQTT 5 client with a will, recording the DISCONNECT the
// server sends it.
type kickWatch struct {
	c    *paho5.Client
	gone chan byte // the server's DISCONNECT reason
}

func dialKickWatch(t *testing.T, addr, id, user, pass string) *kickWatch {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w := &kickWatch{gone: make(chan byte, 1)}
	w.c = paho5.NewClient(paho5.ClientConfig{ClientID: id, Conn: conn,
		OnServerDisconnect: func(d *paho5.Disconnect) { w.gone <- d.ReasonCode },
		OnClientError:      func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := w.c.Connect(ctx, &paho5.Connect{ClientID: id, KeepAlive: 30, CleanStart: true,
		UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(pass),
		WillMessage: &paho5.WillMessage{Topic: "wills/" + id, Payload: []byte("gone"), QoS: 1}})
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect %s as %s: %v %+v", id, user, err, ack)
	}
	t.Cleanup(func() { _ = w.c.Disconnect(&paho5.Disconnect{}) })
	return w
}

// kicked waits for the server's DISCONNECT and checks it is 0x98
// (administrative action).
func (w *kickWatch) kicked(t *testing.T, why string) {
	t.Helper()
	select {
	case code := <-w.gone:
		if code != 0x98 {
			t.Fatalf("%s: DISCONNECT reason %#x, want 0x98 (administrative action)", why, code)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the client was not disconnected", why)
	}
}

func (w *kickWatch) notKicked(t *testing.T, why string) {
	t.Helper()
	select {
	case code := <-w.gone:
		t.Fatalf("%s: disconnected (reason %#x) though the change does not concern it", why, code)
	default:
	}
}

// TestDynsecKicks checks that changes that lock a client out, or change
// its permissions, disconnect its connections with reason 0x98 and
// without publishing its will, and that others stay connected, as
// Mosquitto does.
func TestDynsecKicks(t *testing.T) {
	n := newDynsecNode(t, "")
	n.start()
	adminCtrl(t, n, "", "createRole", "willwatch")
	adminCtrl(t, n, "", "addRoleACL", "willwatch", "subscribePattern", "wills/#", "allow")
	adminCtrl(t, n, "", "createClient", "watcher", "-p", "w")
	adminCtrl(t, n, "", "addClientRole", "watcher", "willwatch")
	log := newMsgLog()
	watcher, _ := dialV5As(t, n.mqttAddr, "watcher", "watcher", "w", log)
	if got := subReasons(t, watcher, "wills/#"); string(got) != "\x01" {
		t.Fatalf("watcher subscribe: % x", got)
	}

	bob := dialKickWatch(t, n.mqttAddr, "bob-1", "bob", "bobpass")
	alice := dialKickWatch(t, n.mqttAddr, "alice-device", "alice", "alicepass")
	adminCtrl(t, n, "", "addRoleACL", "operator", "publishClientSend", "extra/#", "allow")
	bob.kicked(t, "addRoleACL on bob's role")
	alice.notKicked(t, "addRoleACL on a role alice does not hold")

	bob = dialKickWatch(t, n.mqttAddr, "bob-2", "bob", "bobpass")
	adminCtrl(t, n, "", "disableClient", "bob")
	bob.kicked(t, "disableClient bob")
	adminCtrl(t, n, "", "addGroupRole", "devices", "readonly")
	alice.kicked(t, "addGroupRole on alice's group")
	alice = dialKickWatch(t, n.mqttAddr, "alice-device", "alice", "alicepass")
	adminCtrl(t, n, "", "deleteClient", "alice")
	alice.kicked(t, "deleteClient alice")

	// No will was published for a kicked client.
	adminCtrl(t, n, "", "addRoleACL", "admin", "publishClientSend", "wills/#", "allow")
	pubber, _ := dialV5As(t, n.mqttAddr, "admin-pub", "admin", "adminpass", nil)
	pubReason(t, pubber, "wills/marker", 1, false, "marker")
	waitFor(t, 10*time.Second, "the marker", func() bool { return len(log.get("wills/marker")) == 1 })
	for _, id := range []string{"bob-1", "bob-2", "alice-device"} {
		if got := log.get("wills/" + id); len(got) != 0 {
			t.Errorf("the will of kicked %s was published: %v", id, got)
		}
	}
}
