package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// Real client libraries and tools against a real triad process: paho
// (MQTT 3.1.1), paho.golang (MQTT 5.0) and Debian's mosquitto_pub and
// mosquitto_sub. Each checks that a persistent session keeps what was
// acknowledged to the publisher while the subscriber was away, in order,
// and that retained messages are kept and cleared.

// received is one message as a client application saw it.
type received struct {
	payload  string
	retained bool
}

// msgLog records what a client received, per topic, in arrival order.
type msgLog struct {
	mu      sync.Mutex
	byTopic map[string][]received
}

func newMsgLog() *msgLog { return &msgLog{byTopic: map[string][]received{}} }

func (l *msgLog) add(topic, payload string, retained bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byTopic[topic] = append(l.byTopic[topic], received{payload, retained})
}

func (l *msgLog) get(topic string) []received {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]received(nil), l.byTopic[topic]...)
}

func (l *msgLog) payloads(topic string) []string {
	var out []string
	for _, m := range l.get(topic) {
		out = append(out, m.payload)
	}
	return out
}

// distinct is the number of different payloads received on topic.
func (l *msgLog) distinct(topic string) int {
	seen := map[string]bool{}
	for _, m := range l.get(topic) {
		seen[m.payload] = true
	}
	return len(seen)
}

// seqPayloads are the payloads "<prefix>-000" .. "<prefix>-<n-1>".
func seqPayloads(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// checkDelivered asserts that got holds exactly want, in want's order. A
// QoS 1 subscriber may see a message again ([MQTT-4.3.2]); with dupOK a
// repeat of an earlier payload is ignored, otherwise it is an error.
func checkDelivered(t *testing.T, what string, got, want []string, dupOK bool) {
	t.Helper()
	seen := map[string]bool{}
	var firsts []string
	for _, p := range got {
		if seen[p] {
			if !dupOK {
				t.Errorf("%s: %q delivered more than once", what, p)
			}
			continue
		}
		seen[p] = true
		firsts = append(firsts, p)
	}
	if strings.Join(firsts, ",") != strings.Join(want, ",") {
		t.Errorf("%s: delivered (first occurrences, in order)\n  %v\nwant\n  %v", what, firsts, want)
	}
}

// waitQuiet waits until the broker holds no in-flight or queued message for
// any session: every delivery has been acknowledged, so what the clients
// have received is final.
func waitQuiet(t *testing.T, n *node) {
	t.Helper()
	waitFor(t, 20*time.Second, "broker in-flight count 0", func() bool {
		st, err := getStatus(n.httpAddr)
		return err == nil && st.Inflight == 0
	})
}

// waitConnections waits until the broker counts want connected clients.
func waitConnections(t *testing.T, n *node, want int64) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d connected clients", want), func() bool {
		st, err := getStatus(n.httpAddr)
		return err == nil && st.Connections == want
	})
}

// budget bounds a publishing loop in time as well as count: check fails
// the test once d has passed since budget was called.
func budget(t *testing.T, d time.Duration) (check func()) {
	deadline := time.Now().Add(d)
	return func() {
		t.Helper()
		if time.Now().After(deadline) {
			t.Fatalf("publishing loop took longer than %v", d)
		}
	}
}

// ---- paho.mqtt.golang (MQTT 3.1.1) ----

// dialV311 connects a paho client to brokerURL (tcp://, ssl://, ws://,
// wss://) and routes every message it receives into log. It returns the
// CONNACK's session present flag.
func dialV311(brokerURL, id string, clean bool, log *msgLog, tc *tls.Config) (paho.Client, bool, error) {
	opts := paho.NewClientOptions().AddBroker(brokerURL).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).SetWriteTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).SetOrderMatters(true)
	if tc != nil {
		opts.SetTLSConfig(tc)
	}
	if log != nil {
		opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			log.add(m.Topic(), string(m.Payload()), m.Retained())
		})
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, false, fmt.Errorf("paho connect %s: no CONNACK within 10s", id)
	}
	if err := tok.Error(); err != nil {
		return nil, false, fmt.Errorf("paho connect %s: %w", id, err)
	}
	return c, tok.(*paho.ConnectToken).SessionPresent(), nil
}

func mustDialV311(t *testing.T, brokerURL, id string, clean bool, log *msgLog) (paho.Client, bool) {
	t.Helper()
	c, present, err := dialV311(brokerURL, id, clean, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, present
}

func subV311(t *testing.T, c paho.Client, filters map[string]byte) {
	t.Helper()
	tok := c.SubscribeMultiple(filters, nil) // nil: messages go to the default handler
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code != filters[f] {
			t.Fatalf("subscribe %s: granted %#x, want QoS %d", f, code, filters[f])
		}
	}
}

func pubV311(t *testing.T, c paho.Client, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s %q: not acknowledged: %v", topic, payload, tok.Error())
	}
}

// TestPahoV311PersistentSession: a persistent 3.1.1 session subscribed at
// QoS 1 and QoS 2 receives, after reconnecting, every message acknowledged
// to a publisher while it was away, in order and (QoS 2) exactly once;
// retained messages reach new subscribers until an empty retained publish
// clears them.
func TestPahoV311PersistentSession(t *testing.T) {
	const perQoS = 50
	n := newNode(t, "")
	n.start()
	url := "tcp://" + n.mqttAddr

	sub, present := mustDialV311(t, url, "v311-sub", false, newMsgLog())
	if present {
		t.Fatalf("first connect of v311-sub: session present")
	}
	subV311(t, sub, map[string]byte{"v311/q1": 1, "v311/q2": 2})
	sub.Disconnect(250)
	waitConnections(t, n, 0)

	pub, _ := mustDialV311(t, url, "v311-pub", true, nil)
	want1, want2 := seqPayloads("q1", perQoS), seqPayloads("q2", perQoS)
	inBudget := budget(t, 20*time.Second)
	for i := 0; i < perQoS; i++ {
		inBudget()
		pubV311(t, pub, "v311/q1", 1, false, want1[i])
		pubV311(t, pub, "v311/q2", 2, false, want2[i])
	}

	log := newMsgLog()
	sub, present = mustDialV311(t, url, "v311-sub", false, log)
	if !present {
		t.Fatalf("reconnect of v311-sub: session present false, want true")
	}
	waitFor(t, 20*time.Second, "all queued messages", func() bool {
		return log.distinct("v311/q1") == perQoS && log.distinct("v311/q2") == perQoS
	})
	waitQuiet(t, n)
	checkDelivered(t, "QoS 1", log.payloads("v311/q1"), want1, true)
	checkDelivered(t, "QoS 2", log.payloads("v311/q2"), want2, false)
	sub.Disconnect(250)

	// Retained: kept for a new subscriber, then cleared by an empty payload.
	pubV311(t, pub, "v311/ret", 1, true, "kept")
	rlog := newMsgLog()
	r1, _ := mustDialV311(t, url, "v311-ret-1", true, rlog)
	subV311(t, r1, map[string]byte{"v311/ret": 1})
	waitFor(t, 10*time.Second, "retained message", func() bool { return len(rlog.get("v311/ret")) > 0 })
	if got := rlog.get("v311/ret"); got[0] != (received{"kept", true}) {
		t.Errorf("new subscriber got %+v, want the retained message \"kept\" with the retain flag", got[0])
	}
	r1.Disconnect(250)

	pubV311(t, pub, "v311/ret", 1, true, "")
	waitFor(t, 10*time.Second, "retained count 0 in /status", func() bool {
		st, err := getStatus(n.httpAddr)
		return err == nil && st.Retained == 0
	})
	checkNoRetained(t, url, pub, "v311/ret")
	pub.Disconnect(250)
}

// checkNoRetained subscribes a new client to topic, then publishes a
// non-retained marker there: the marker must be the first thing received.
// The broker writes retained messages right after the SUBACK, so a
// retained message still stored would arrive first.
func checkNoRetained(t *testing.T, url string, pub paho.Client, topic string) {
	t.Helper()
	log := newMsgLog()
	c, _ := mustDialV311(t, url, "no-retained-check", true, log)
	defer c.Disconnect(250)
	subV311(t, c, map[string]byte{topic: 1})
	pubV311(t, pub, topic, 1, false, "marker")
	waitFor(t, 10*time.Second, "marker", func() bool {
		for _, m := range log.get(topic) {
			if m.payload == "marker" {
				return true
			}
		}
		return false
	})
	if got := log.get(topic); len(got) != 1 || got[0] != (received{"marker", false}) {
		t.Errorf("subscriber to %s after the retained message was cleared got %+v, want only the marker", topic, got)
	}
}

// ---- paho.golang (MQTT 5.0) ----

type v5Client struct {
	*paho5.Client
	ack *paho5.Connack
}

// dialV5 connects an MQTT 5 client over a TCP connection it dials itself.
func dialV5(t *testing.T, addr, id string, cleanStart bool, expiry uint32, log *msgLog) v5Client {
	t.Helper()
	c, ack, err := connectV5(t, addr, &paho5.Connect{
		ClientID: id, KeepAlive: 30, CleanStart: cleanStart,
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: &expiry},
	}, log)
	if err != nil {
		t.Fatalf("MQTT 5 connect %s: %v", id, err)
	}
	return v5Client{c, ack}
}

// connectV5 dials addr and sends cp; log, if set, records what arrives.
// The CONNACK is returned whatever its reason code.
func connectV5(t *testing.T, addr string, cp *paho5.Connect, log *msgLog) (*paho5.Client, *paho5.Connack, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	cfg := paho5.ClientConfig{ClientID: cp.ClientID, Conn: conn}
	if log != nil {
		cfg.OnPublishReceived = []func(paho5.PublishReceived) (bool, error){
			func(pr paho5.PublishReceived) (bool, error) {
				log.add(pr.Packet.Topic, string(pr.Packet.Payload), pr.Packet.Retain)
				return true, nil
			},
		}
	}
	c := paho5.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	return c, ack, err
}

func (c v5Client) subscribe(t *testing.T, subs ...paho5.SubscribeOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho5.Subscribe{Subscriptions: subs})
	if err != nil {
		t.Fatalf("subscribe %+v: %v", subs, err)
	}
	for i, code := range ack.Reasons {
		if code != subs[i].QoS {
			t.Fatalf("subscribe %s: reason %#x, want granted QoS %d", subs[i].Topic, code, subs[i].QoS)
		}
	}
}

func (c v5Client) publish(t *testing.T, topic string, qos byte, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Publish(ctx, &paho5.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("publish %s %q: %v", topic, payload, err)
	}
	if qos > 0 && resp.ReasonCode >= 0x80 {
		t.Fatalf("publish %s %q: reason %#x", topic, payload, resp.ReasonCode)
	}
}

// close sends DISCONNECT (reason 0: normal) and waits for the client to end.
func (c v5Client) close(t *testing.T) {
	t.Helper()
	if err := c.Disconnect(&paho5.Disconnect{ReasonCode: 0}); err != nil {
		t.Fatalf("disconnect %s: %v", c.ClientID(), err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("client %s did not shut down", c.ClientID())
	}
}

// TestPahoV5Sessions: a session with a Session Expiry Interval outlives the
// connection and gets what was published meanwhile, in order; a session
// with interval 0 ends with its connection [MQTT-3.1.2-23 (v5: 3.1.2.11.2)].
func TestPahoV5Sessions(t *testing.T) {
	n := newNode(t, "")
	n.start()

	t.Run("expiry 300s is kept", func(t *testing.T) {
		const perQoS = 40
		sub := dialV5(t, n.mqttAddr, "v5-sub", false, 300, newMsgLog())
		if sub.ack.SessionPresent {
			t.Fatalf("first connect of v5-sub: session present")
		}
		sub.subscribe(t, paho5.SubscribeOptions{Topic: "v5/q1", QoS: 1}, paho5.SubscribeOptions{Topic: "v5/q2", QoS: 2})
		sub.close(t)
		waitConnections(t, n, 0)

		pub := dialV5(t, n.mqttAddr, "v5-pub", true, 0, nil)
		want1, want2 := seqPayloads("q1", perQoS), seqPayloads("q2", perQoS)
		inBudget := budget(t, 20*time.Second)
		for i := 0; i < perQoS; i++ {
			inBudget()
			pub.publish(t, "v5/q1", 1, want1[i])
			pub.publish(t, "v5/q2", 2, want2[i])
		}
		pub.close(t)

		log := newMsgLog()
		sub = dialV5(t, n.mqttAddr, "v5-sub", false, 300, log)
		if !sub.ack.SessionPresent {
			t.Fatalf("reconnect of v5-sub: session present false, want true")
		}
		waitFor(t, 20*time.Second, "all queued messages", func() bool {
			return log.distinct("v5/q1") == perQoS && log.distinct("v5/q2") == perQoS
		})
		waitQuiet(t, n)
		checkDelivered(t, "QoS 1", log.payloads("v5/q1"), want1, true)
		checkDelivered(t, "QoS 2", log.payloads("v5/q2"), want2, false)
		sub.close(t)
	})

	t.Run("expiry 0 ends with the connection", func(t *testing.T) {
		before, err := getStatus(n.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		eph := dialV5(t, n.mqttAddr, "v5-eph", false, 0, newMsgLog())
		eph.subscribe(t, paho5.SubscribeOptions{Topic: "v5/eph", QoS: 1})
		eph.close(t)
		waitFor(t, 10*time.Second, "session count back to "+fmt.Sprint(before.Sessions), func() bool {
			st, err := getStatus(n.httpAddr)
			return err == nil && st.Sessions == before.Sessions && st.Connections == 0
		})

		pub := dialV5(t, n.mqttAddr, "v5-eph-pub", true, 0, nil)
		defer pub.close(t)
		pub.publish(t, "v5/eph", 1, "while-away")

		log := newMsgLog()
		eph = dialV5(t, n.mqttAddr, "v5-eph", false, 0, log)
		defer eph.close(t)
		if eph.ack.SessionPresent {
			t.Errorf("reconnect after a session with expiry 0: session present true, want false")
		}
		// Anything queued would be sent right after CONNACK, before the
		// SUBACK and so before the marker.
		eph.subscribe(t, paho5.SubscribeOptions{Topic: "v5/eph", QoS: 1})
		pub.publish(t, "v5/eph", 1, "marker")
		waitFor(t, 10*time.Second, "marker", func() bool { return log.distinct("v5/eph") > 0 && contains(log.payloads("v5/eph"), "marker") })
		if got := log.payloads("v5/eph"); len(got) != 1 {
			t.Errorf("expired session: received %v, want only the marker", got)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ---- mosquitto_pub / mosquitto_sub ----

// mosq runs one of Debian's mosquitto clients against n and returns its
// stdout, stderr and exit code.
func mosq(t *testing.T, n *node, tool string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	host, port, err := net.SplitHostPort(n.mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"-h", host, "-p", port}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v", tool, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v: killed after 20s\nstdout: %s\nstderr: %s", tool, args, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), code
}

// mustMosq runs a mosquitto client that must exit 0 without complaint.
func mustMosq(t *testing.T, n *node, tool string, args ...string) string {
	t.Helper()
	out, errOut, code := mosq(t, n, tool, args...)
	if code != 0 || strings.Contains(errOut, "denied") || strings.Contains(errOut, "Error") {
		t.Fatalf("%s %v: exit %d\nstdout: %s\nstderr: %s", tool, args, code, out, errOut)
	}
	return out
}

// bgMosq is a mosquitto client running in the background.
type bgMosq struct {
	stdout, stderr *lockedBuffer
	done           chan error
}

// startMosq starts a mosquitto client against n, its output line-buffered;
// it is killed after 20s or at the end of the test.
func startMosq(t *testing.T, n *node, tool string, args ...string) *bgMosq {
	t.Helper()
	host, port, err := net.SplitHostPort(n.mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	// stdbuf -oL: line-buffered stdout, to watch its progress through a pipe.
	cmd := exec.CommandContext(ctx, "stdbuf", append([]string{"-oL", tool, "-h", host, "-p", port}, args...)...)
	b := &bgMosq{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = b.stdout, b.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", tool, err)
	}
	go func() { b.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// wait waits for the client to exit and returns its exit code.
func (b *bgMosq) wait(t *testing.T) int {
	t.Helper()
	var err error
	select {
	case err = <-b.done:
		b.done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatalf("mosquitto client still running\nstdout: %s\nstderr: %s", b.stdout.String(), b.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("mosquitto client: %v", err)
	return -1
}

// mosqPayloads picks the message lines out of mosquitto_sub -d output.
func mosqPayloads(out string) []string {
	var msgs []string
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.HasPrefix(line, "Client ") && !strings.HasPrefix(line, "Subscribed (") {
			msgs = append(msgs, line)
		}
	}
	return msgs
}

// TestMosquittoClients: Debian's mosquitto_sub keeps a persistent session
// (-c) across runs and gets exactly what mosquitto_pub sent meanwhile. Its
// reconnect SUBSCRIBEs with packet id 1 while the broker holds queued
// deliveries numbered from 1: that must not be refused (mochi issue #545).
func TestMosquittoClients(t *testing.T) {
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (Debian packages mosquitto-clients, coreutils): %v", tool, err)
		}
	}
	n := newNode(t, "")
	n.start()
	const id, topic = "mosq-sub", "mosq/t"

	mustMosq(t, n, "mosquitto_sub", "-c", "-i", id, "-q", "1", "-t", topic, "-E")
	waitConnections(t, n, 0)

	var want []string
	inBudget := budget(t, 20*time.Second)
	for i := 0; i < 10; i++ {
		inBudget()
		qos := fmt.Sprint(1 + i%2)
		msg := fmt.Sprintf("m%02d-qos%s", i, qos)
		mustMosq(t, n, "mosquitto_pub", "-q", qos, "-t", topic, "-m", msg)
		want = append(want, msg)
	}

	// The reconnecting subscriber gets the queued messages, then its
	// SUBACK (-d prints it), then one message published after that; -C
	// makes it exit after those.
	sub := startMosq(t, n, "mosquitto_sub", "-d", "-c", "-i", id, "-q", "1", "-t", topic,
		"-C", fmt.Sprint(len(want)+1), "-W", "15")
	waitFor(t, 15*time.Second, "queued messages and SUBACK at mosquitto_sub", func() bool {
		out := sub.stdout.String()
		return len(mosqPayloads(out)) >= len(want) && strings.Contains(out, "Subscribed (mid: 1)")
	})
	mustMosq(t, n, "mosquitto_pub", "-q", "1", "-t", topic, "-m", "after")
	code := sub.wait(t)
	out, errOut := sub.stdout.String(), sub.stderr.String()
	if code != 0 || !strings.Contains(out, "Subscribed (mid: 1): 1\n") || strings.Contains(out+errOut, "denied") {
		t.Fatalf("reconnecting mosquitto_sub: exit %d; want exit 0 and its SUBSCRIBE (packet id 1, the id of the first "+
			"queued delivery) granted QoS 1, not refused (mochi #545)\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if got, want := mosqPayloads(out), append(want, "after"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("reconnecting mosquitto_sub received\n  %v\nwant\n  %v", got, want)
	}
	t.Logf("packet id collisions handled by the broker: %v", scrapeMetrics(t, n)["triad_packet_id_collisions_total"])

	// Nothing else was left queued: the next message is the first one the
	// session gets on its next connection.
	waitConnections(t, n, 0)
	mustMosq(t, n, "mosquitto_pub", "-q", "1", "-t", topic, "-m", "last")
	if out := mustMosq(t, n, "mosquitto_sub", "-c", "-i", id, "-q", "1", "-t", topic, "-C", "1", "-W", "10"); out != "last\n" {
		t.Errorf("third mosquitto_sub run received %q, want \"last\\n\"", out)
	}

	// Retained.
	mustMosq(t, n, "mosquitto_pub", "-r", "-q", "1", "-t", "mosq/ret", "-m", "retained-value")
	if out := mustMosq(t, n, "mosquitto_sub", "-q", "1", "-t", "mosq/ret", "-C", "1", "-W", "10"); out != "retained-value\n" {
		t.Errorf("mosquitto_sub of a retained topic printed %q, want \"retained-value\\n\"", out)
	}
	mustMosq(t, n, "mosquitto_pub", "-r", "-n", "-q", "1", "-t", "mosq/ret")
	waitFor(t, 10*time.Second, "retained count 0 after mosquitto_pub -r -n", func() bool {
		st, err := getStatus(n.httpAddr)
		return err == nil && st.Retained == 0
	})
}

// TestGracefulStopKeepsState: SIGTERM with clients connected stops triad
// within a few seconds with exit status 0; after a restart the messages
// queued for an offline session and the retained messages are still there.
func TestGracefulStopKeepsState(t *testing.T) {
	const queued = 30
	n := newNode(t, "")
	n.start()
	url := "tcp://" + n.mqttAddr

	sub, _ := mustDialV311(t, url, "grace-sub", false, newMsgLog())
	subV311(t, sub, map[string]byte{"grace/q": 1, "grace/q2": 2})
	sub.Disconnect(250)
	waitConnections(t, n, 0)

	pub, _ := mustDialV311(t, url, "grace-pub", true, nil)
	want1, want2 := seqPayloads("q1", queued), seqPayloads("q2", queued)
	inBudget := budget(t, 20*time.Second)
	for i := 0; i < queued; i++ {
		inBudget()
		pubV311(t, pub, "grace/q", 1, false, want1[i])
		pubV311(t, pub, "grace/q2", 2, false, want2[i])
	}
	for i := 0; i < 3; i++ {
		pubV311(t, pub, fmt.Sprintf("grace/ret/%d", i), 1, true, fmt.Sprintf("retained-%d", i))
	}
	// Connected at the stop: the publisher, a live subscriber, an MQTT 5
	// client with a persistent session.
	live, _ := mustDialV311(t, url, "grace-live", true, newMsgLog())
	subV311(t, live, map[string]byte{"grace/#": 1})
	v5 := dialV5(t, n.mqttAddr, "grace-v5", false, 600, nil)
	waitConnections(t, n, 3)

	start := time.Now()
	n.signal(syscall.SIGTERM)
	if err := n.wait(15 * time.Second); err != nil {
		t.Fatalf("triad after SIGTERM: %v (want exit status 0)\n%s", err, n.output())
	}
	d := time.Since(start)
	if d > 5*time.Second {
		t.Errorf("triad took %v to stop after SIGTERM, want under 5s", d)
	}
	t.Logf("stopped %v after SIGTERM (the race detector adds 1s at exit)", d)
	if !strings.Contains(n.output(), "triad stopped cleanly") {
		t.Errorf("no \"triad stopped cleanly\" in the log")
	}
	waitFor(t, 10*time.Second, "clients to see the connection closed", func() bool {
		return !pub.IsConnectionOpen() && !live.IsConnectionOpen()
	})
	select {
	case <-v5.Done():
	case <-time.After(10 * time.Second):
		t.Errorf("MQTT 5 client still connected after the broker stopped")
	}

	n.start()
	log := newMsgLog()
	sub, present := mustDialV311(t, url, "grace-sub", false, log)
	defer sub.Disconnect(250)
	if !present {
		t.Fatalf("grace-sub after restart: session present false, want true")
	}
	waitFor(t, 20*time.Second, "queued messages after restart", func() bool {
		return log.distinct("grace/q") == queued && log.distinct("grace/q2") == queued
	})
	waitQuiet(t, n)
	checkDelivered(t, "QoS 1 after restart", log.payloads("grace/q"), want1, true)
	checkDelivered(t, "QoS 2 after restart", log.payloads("grace/q2"), want2, false)

	rlog := newMsgLog()
	r, _ := mustDialV311(t, url, "grace-ret", true, rlog)
	defer r.Disconnect(250)
	subV311(t, r, map[string]byte{"grace/ret/#": 1})
	waitFor(t, 10*time.Second, "3 retained messages after restart", func() bool {
		total := 0
		for i := 0; i < 3; i++ {
			total += len(rlog.get(fmt.Sprintf("grace/ret/%d", i)))
		}
		return total == 3
	})
	for i := 0; i < 3; i++ {
		topic := fmt.Sprintf("grace/ret/%d", i)
		if got := rlog.get(topic); len(got) != 1 || got[0] != (received{fmt.Sprintf("retained-%d", i), true}) {
			t.Errorf("%s after restart: %+v", topic, got)
		}
	}
}
