//go:build chaos && linux

package chaos

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The workload: publishers send numbered QoS 1 and QoS 2 messages (odd
// numbers QoS 1 on chaos/q1, even ones QoS 2 on chaos/q2), one at a time,
// each waiting for its acknowledgement; persistent subscribers receive
// them all. Half the clients go through HAProxy as production clients do;
// the others dial the nodes directly, one after the other, so the node
// that answered each operation is known (the split-brain check).
const (
	hapPublishers    = 3
	directPublishers = 2
	publishPace      = 50 * time.Millisecond // between a publisher's messages
	ackTimeout       = 5 * time.Second
	maxPerPublisher  = 200_000
	workloadLimit    = 90 * time.Minute
)

// workload runs the clients and records their operations.
type workload struct {
	e    *env
	rec  *Recorder
	stop chan struct{}
	wg   sync.WaitGroup
	subs []paho.Client
	// Subscribers are the persistent subscribers' client ids.
	Subscribers []string
}

// startWorkload connects the subscribers (which subscribe before any
// message is sent) and starts the publishers.
func (e *env) startWorkload() *workload {
	e.t.Helper()
	w := &workload{e: e, rec: &Recorder{}, stop: make(chan struct{})}
	w.subscribe("sub-hap", nil)
	w.subscribe("sub-direct", nodeNames)
	for i := range hapPublishers {
		w.publish(fmt.Sprintf("pub-hap-%d", i+1), nil)
	}
	for i := range directPublishers {
		w.publish(fmt.Sprintf("pub-direct-%d", i+1), nodeNames)
	}
	e.t.Cleanup(w.close)
	return w
}

// dialer returns paho's connection function: from host cl to the broker
// URL's address, noting the node it reached (by its address) in node.
func (w *workload) dialer(node *atomic.Value) paho.OpenConnectionFunc {
	return func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := w.e.net.DialContext(ctx, "cl", u.Host)
		if err == nil && node != nil {
			node.Store(w.e.nodeAt(u.Hostname()))
		}
		return c, err
	}
}

// nodeAt names the node whose address is ip, "" for HAProxy's.
func (e *env) nodeAt(ip string) string {
	for _, n := range nodeNames {
		if e.ip(n) == ip {
			return n
		}
	}
	return ""
}

func (w *workload) brokers(direct []string) []string {
	if direct == nil {
		return []string{"tcp://" + net.JoinHostPort(w.e.ip("lb"), mqttPort)}
	}
	var out []string
	for _, n := range direct {
		out = append(out, "tcp://"+net.JoinHostPort(w.e.ip(n), mqttPort))
	}
	return out
}

// subscribe connects a persistent subscriber to chaos/# at QoS 2, through
// HAProxy or (direct) the nodes in turn, reconnecting by itself.
func (w *workload) subscribe(id string, direct []string) {
	w.e.t.Helper()
	var node atomic.Value
	node.Store("")
	opts := paho.NewClientOptions().SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(250 * time.Millisecond).
		SetConnectTimeout(2 * time.Second).SetWriteTimeout(2 * time.Second).
		SetKeepAlive(5 * time.Second).SetPingTimeout(2 * time.Second).SetOrderMatters(true).
		SetCustomOpenConnectionFn(w.dialer(&node))
	for _, b := range w.brokers(direct) {
		opts.AddBroker(b)
	}
	opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		pub, seq, ok := parsePayload(string(m.Payload()))
		if !ok {
			return
		}
		now := time.Now()
		n := ""
		if direct != nil {
			n = node.Load().(string)
		}
		w.rec.Add(Op{Kind: Deliver, Client: id, Node: n, Topic: m.Topic(), Publisher: pub, Seq: seq, QoS: m.Qos(), Start: now, End: now, OK: true,
			PacketID: m.MessageID(), Dup: m.Duplicate()})
	})
	c := paho.NewClient(opts)
	var err error
	ok := poll(30*time.Second, func() bool {
		if !c.IsConnected() {
			tok := c.Connect()
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				err = fmt.Errorf("connect: %w", tok.Error())
				return false
			}
		}
		tok := c.Subscribe("chaos/#", 2, nil)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			err = fmt.Errorf("subscribe: %w", tok.Error())
			return false
		}
		return true
	})
	if !ok {
		w.e.t.Fatalf("subscriber %s: %v", id, err)
	}
	w.subs = append(w.subs, c)
	w.Subscribers = append(w.Subscribers, id)
}

func parsePayload(p string) (pub string, seq int, ok bool) {
	pub, s, found := strings.Cut(p, "/")
	if !found {
		return "", 0, false
	}
	seq, err := strconv.Atoi(s)
	return pub, seq, err == nil
}

// publish starts a publisher: clean sessions, one message in flight, a new
// connection after any failure (through HAProxy, or to the next of the
// nodes when direct).
func (w *workload) publish(id string, direct []string) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		brokers := w.brokers(direct)
		deadline := time.Now().Add(workloadLimit)
		var c paho.Client
		node, next := "", 0
		defer func() {
			if c != nil {
				c.Disconnect(0)
			}
		}()
		for seq := 1; seq <= maxPerPublisher && time.Now().Before(deadline); {
			select {
			case <-w.stop:
				return
			default:
			}
			if c == nil {
				b := brokers[next%len(brokers)]
				next++
				u, _ := url.Parse(b)
				node = ""
				if direct != nil {
					node = w.e.nodeAt(u.Hostname())
				}
				opts := paho.NewClientOptions().AddBroker(b).SetClientID(id).SetCleanSession(true).
					SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(2 * time.Second).
					SetWriteTimeout(2 * time.Second).SetKeepAlive(5 * time.Second).SetPingTimeout(2 * time.Second).
					SetCustomOpenConnectionFn(w.dialer(nil))
				nc := paho.NewClient(opts)
				start := time.Now()
				tok := nc.Connect()
				ok := tok.WaitTimeout(3*time.Second) && tok.Error() == nil
				op := Op{Kind: Connect, Client: id, Node: node, Start: start, End: time.Now(), OK: ok}
				if !ok {
					op.Err = fmt.Sprint(tok.Error())
					nc.Disconnect(0)
				}
				w.rec.Add(op)
				if !ok {
					w.pause(100 * time.Millisecond)
					continue
				}
				c = nc
				next-- // stay with the node that answered
			}
			qos := byte(2 - seq%2)
			topic := fmt.Sprintf("chaos/q%d", qos)
			start := time.Now()
			tok := c.Publish(topic, qos, false, fmt.Sprintf("%s/%d", id, seq))
			ok := tok.WaitTimeout(ackTimeout) && tok.Error() == nil
			op := Op{Kind: Publish, Client: id, Node: node, Topic: topic, Publisher: id, Seq: seq, QoS: qos, Start: start, End: time.Now(), OK: ok}
			if !ok {
				op.Err = fmt.Sprint(tok.Error())
				c.Disconnect(0)
				c = nil
				next++
			}
			w.rec.Add(op)
			seq++
			w.pause(publishPace)
		}
	}()
}

// bulk publishes n retained messages of size bytes on bulk/<from+i>
// (outside the subscribers' chaos/#) through HAProxy, each acknowledged.
func (w *workload) bulk(from, n, size int) {
	w.e.t.Helper()
	w.retained(from, n, func(i int) []byte { return make([]byte, size) })
}

// clearBulk deletes the retained messages bulk/0 … bulk/n-1.
func (w *workload) clearBulk(n int) {
	w.e.t.Helper()
	w.retained(0, n, func(int) []byte { return nil })
}

func (w *workload) retained(from, n int, payload func(i int) []byte) {
	w.e.t.Helper()
	opts := paho.NewClientOptions().AddBroker(w.brokers(nil)[0]).SetClientID("bulk").SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetWriteTimeout(10 * time.Second).
		SetCustomOpenConnectionFn(w.dialer(nil))
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		w.e.t.Fatalf("bulk publisher: connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	for i := from; i < from+n; i++ {
		tok := c.Publish(fmt.Sprintf("bulk/%d", i), 1, true, payload(i))
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			w.e.t.Fatalf("bulk publisher: message %d: %v", i, tok.Error())
		}
	}
}

// pause waits d unless the workload stops first.
func (w *workload) pause(d time.Duration) {
	select {
	case <-w.stop:
	case <-time.After(d):
	}
}

// acked counts the publishes acknowledged so far.
func (w *workload) acked() int {
	n := 0
	for _, op := range w.rec.Ops() {
		if op.Kind == Publish && op.OK {
			n++
		}
	}
	return n
}

// waitProgress waits until n more publishes are acknowledged than now.
func (w *workload) waitProgress(timeout time.Duration, n int) {
	w.e.t.Helper()
	base := w.acked()
	w.e.waitFor(timeout, fmt.Sprintf("%d more acknowledged publishes", n), func() bool { return w.acked() >= base+n })
}

// stopPublishing stops the publishers and waits for them.
func (w *workload) stopPublishing() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// drain waits up to timeout until every acknowledged message has reached
// every subscriber.
func (w *workload) drain(timeout time.Duration) {
	poll(timeout, func() bool {
		type key struct {
			sub string
			m   Message
		}
		got := map[key]bool{}
		ops := w.rec.Ops()
		for _, op := range ops {
			if op.Kind == Deliver {
				got[key{op.Client, Message{op.Publisher, op.Seq}}] = true
			}
		}
		for _, op := range ops {
			if op.Kind != Publish || !op.OK {
				continue
			}
			for _, s := range w.Subscribers {
				if !got[key{s, Message{op.Publisher, op.Seq}}] {
					return false
				}
			}
		}
		return true
	})
}

func (w *workload) close() {
	w.stopPublishing()
	for _, c := range w.subs {
		c.Disconnect(0)
	}
	w.subs = nil
}
