package demo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/triadmq/triad/lbagent"
	"github.com/triadmq/triad/lbagent/haproxytest"
)

// TestHAProxyDynsecConfig: the dynsec-mode haproxy.cfg passes `haproxy -c`
// without a warning and says what the demo promises.
func TestHAProxyDynsecConfig(t *testing.T) {
	bin := haproxyBinary(t)
	l, err := NewLayout(t.TempDir(), 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	path := writeDynsecProxyFiles(t, l)
	out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("haproxy -c -f %s: %v\n%s", path, err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(data)
	for _, want := range []string{
		"\n    stats socket " + l.Proxy.Socket + " mode 600 level admin\n",
		"\n    server-state-file " + l.Proxy.StateFile + "\n",
		"\n    load-server-state-from-file global\n",
		"\n    mode tcp\n",
		"\n    timeout connect 200ms\n",
		"\nfrontend mqtt\n    bind 127.0.0.1:21913\n    default_backend triad\n",
		"\n    balance leastconn\n",
		"\n    tcp-request inspect-delay 5s\n",
		"\n    tcp-request content reject unless { req.payload(0,0),mqtt_is_valid }\n",
		"\n    stick-table type string len 64 size 512k expire 24d srvkey name\n",
		"\n    stick on req.payload(0,0),mqtt_field_value(connect,client_identifier)\n",
		"\n    option httpchk GET /ready\n    http-check expect status 200\n",
		" on-marked-down shutdown-sessions\n",
		"\n    server n1 127.0.0.1:21883 check port 21884 send-proxy-v2\n",
		"\n    server n2 127.0.0.1:21893 check port 21894 send-proxy-v2\n",
		"\n    server n3 127.0.0.1:21903 check port 21904 send-proxy-v2\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", want, cfg)
		}
	}
	for _, line := range strings.Split(cfg, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && slices.Contains([]string{"daemon", "user", "group", "chroot"}, f[0]) {
			t.Errorf("haproxy.cfg has %q: the demo runs haproxy in the foreground as its own user", line)
		}
		if strings.Contains(line, "/leader") {
			t.Errorf("haproxy.cfg has %q: in dynsec mode every node serves, there is no leader", line)
		}
	}
}

// TestHAProxyDynsecConfigMatchesPackaging: the production example,
// packaging/haproxy/haproxy-dynsec.cfg, places and sticks clients as the
// demo does (plus its peers section, which the demo has no use for).
func TestHAProxyDynsecConfigMatchesPackaging(t *testing.T) {
	l, err := NewLayout(t.TempDir(), 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := l.HAProxyDynsecConfig()
	if err != nil {
		t.Fatal(err)
	}
	prod, err := os.ReadFile("../packaging/haproxy/haproxy-dynsec.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(cfg), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !slices.Contains([]string{"balance", "tcp-request", "stick", "stick-table", "option", "http-check"}, f[0]) {
			continue
		}
		if f[0] == "stick-table" {
			line += " peers lb"
		}
		if !strings.Contains(string(prod), "\n"+line+"\n") {
			t.Errorf("packaging/haproxy/haproxy-dynsec.cfg lacks the demo's line %q", line)
		}
	}
}

func TestHAProxyDynsecConfigRejectsLongSocketPath(t *testing.T) {
	l, err := NewLayout(filepath.Join(t.TempDir(), strings.Repeat("d", 90)), 21883, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.HAProxyDynsecConfig(); err == nil || !strings.Contains(err.Error(), l.Proxy.Socket) || !strings.Contains(err.Error(), "shorter --dir") {
		t.Errorf("HAProxyDynsecConfig: %v, want an error naming the socket and asking for a shorter --dir", err)
	}
}

// writeDynsecProxyFiles writes l's dynsec-mode haproxy.cfg and an empty
// server state file, and returns the config's path.
func writeDynsecProxyFiles(t *testing.T, l *Layout) string {
	t.Helper()
	cfg, err := l.HAProxyDynsecConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l.Proxy.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Proxy.ConfigPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Proxy.StateFile, []byte(emptyServerState), 0o644); err != nil {
		t.Fatal(err)
	}
	return l.Proxy.ConfigPath
}

// TestHAProxyDynsecSticky runs a real HAProxy on the demo's dynsec config
// in front of three fake nodes and checks what a client sees: it is stuck
// to one node by its client identifier, whatever the MQTT version;
// identifiers (and empty ones) are spread over the nodes; when its node
// fails /ready it is moved to another and stays there; anything but an
// MQTT CONNECT is refused before a node sees it, and a client that sends
// nothing is closed after inspect-delay.
func TestHAProxyDynsecSticky(t *testing.T) {
	haproxyBinary(t)
	c := startDynsecCluster(t)
	// A client that sends nothing: HAProxy waits inspect-delay (5 s) for
	// its CONNECT, then closes it. Watched in the background meanwhile.
	silent := c.watchSilent(t)

	t.Run("identifiers spread over the nodes", c.testSpread)
	t.Run("empty identifiers spread over the nodes", c.testEmptyIDs)
	t.Run("same identifier, same node", c.testSticky)
	t.Run("same identifier, any MQTT version", c.testVersions)
	t.Run("refused before a node", c.testRefused)
	t.Run("node down: moved, and stays moved", c.testFailover)

	res := <-silent // bounded by watchSilent's own deadline
	switch {
	case res.err != nil:
		t.Errorf("silent client: %v", res.err)
	case res.after < 4*time.Second || res.after > 8*time.Second:
		t.Errorf("silent client closed after %v; want about 5 s (tcp-request inspect-delay)", res.after)
	default:
		t.Logf("silent client closed after %v", res.after.Round(time.Millisecond))
	}
	if node := c.nodeOf(res.addr); node != "" {
		t.Errorf("silent client reached %s", node)
	}
}

// testSpread: 30 new identifiers go to more than one node (leastconn),
// and each one's entry names the node it went to.
func (c *dynsecCluster) testSpread(t *testing.T) {
	per, went := map[string]int{}, map[string]string{}
	for i := range 30 {
		id := fmt.Sprintf("client-%02d", i)
		node := c.connect(t, mqttConnect(4, id, ""))
		per[node]++
		went[id] = node
	}
	t.Logf("30 client identifiers: %v", per)
	if len(per) < 2 {
		t.Errorf("30 client identifiers all went to %v", per)
	}
	table := c.table(t)
	for id, node := range went {
		if !strings.Contains(table[id], " server_key="+node+" ") {
			t.Errorf("stick table entry of %s: %q, want its node %s", id, table[id], node)
		}
	}
}

// testEmptyIDs: clients without an identifier make no entry and are not
// all sent to one node.
func (c *dynsecCluster) testEmptyIDs(t *testing.T) {
	per := map[string]int{}
	for range 6 {
		node := c.connect(t, mqttConnect(4, "", ""))
		per[node]++
	}
	t.Logf("6 empty client identifiers: %v", per)
	if len(per) < 2 {
		t.Errorf("6 clients without an identifier all went to %v: an empty identifier must not stick", per)
	}
	if entry, ok := c.table(t)[""]; ok {
		t.Errorf("stick table has an entry for the empty identifier: %q", entry)
	}
}

// testSticky: client sticky reconnects 5 times to its first node. Each
// earlier connection stays open, as a client's old connection does when
// it reconnects before its node noticed: its node is then the busiest,
// where leastconn alone would not send it.
func (c *dynsecCluster) testSticky(t *testing.T) {
	for i := range 5 {
		node := c.connect(t, mqttConnect(4, "sticky", ""))
		if i == 0 {
			c.stuck = node
		} else if node != c.stuck {
			t.Errorf("reconnection %d of client sticky went to %s; its first connection went to %s", i, node, c.stuck)
		}
	}
}

// testVersions: HAProxy finds the same client identifier in MQTT 3.1,
// 3.1.1 and 5.0 CONNECTs, with a password, and with a packet after the
// CONNECT in the same segment.
func (c *dynsecCluster) testVersions(t *testing.T) {
	node := c.connect(t, mqttConnect(4, "versions", ""))
	for _, v := range []struct {
		name string
		pkt  []byte
	}{
		{"MQTT 5 with properties", mqttConnect(5, "versions", "")},
		{"MQTT 3.1", mqttConnect(3, "versions", "")},
		{"with a password", mqttConnect(4, "versions", "secret")},
		{"CONNECT and PINGREQ in one segment", append(mqttConnect(4, "versions", ""), 0xc0, 0)},
	} {
		if got := c.connect(t, v.pkt); got != node {
			t.Errorf("%s: client versions went to %s; with MQTT 3.1.1 to %s", v.name, got, node)
		}
	}
}

func (c *dynsecCluster) testRefused(t *testing.T) {
	for _, r := range []struct {
		name string
		data []byte
	}{
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: mqtt\r\n\r\n")},
		{"PUBLISH first", []byte{0x30, 0x05, 0x00, 0x01, 't', 'h', 'i'}},
		{"malformed CONNECT", []byte{0x10, 0x04, 0x00, 0x04, 'M', 'Q'}},
		{"CONNECT larger than HAProxy's buffer", mqttConnect(4, "big", strings.Repeat("p", 20000))},
	} {
		c.refused(t, r.name, r.data)
	}
}

// testFailover: the node holding client sticky fails /ready. Its clients
// are disconnected; sticky reconnects to another node and stays there,
// also once its old node is back and has no client at all (where
// leastconn would send it).
func (c *dynsecCluster) testFailover(t *testing.T) {
	if c.stuck == "" {
		t.Fatal("client sticky has no node (testSticky failed)")
	}
	var held net.Conn // a client connection open on that node
	for _, conn := range c.conns() {
		if c.nodeOf(conn.LocalAddr().String()) == c.stuck {
			held = conn
		}
	}
	if held == nil {
		t.Fatalf("no client connection open on %s", c.stuck)
	}
	c.node(c.stuck).ready.Store(false)
	c.waitOp(t, c.stuck, lbagent.OpStopped)
	if err := closedWithin(held, 5*time.Second); err != nil {
		t.Errorf("a client of %s after it was marked down: %v; want it disconnected (on-marked-down shutdown-sessions)", c.stuck, err)
	}
	moved := c.connect(t, mqttConnect(4, "sticky", ""))
	if moved == c.stuck {
		t.Fatalf("client sticky went to %s, which is down", c.stuck)
	}
	c.node(c.stuck).ready.Store(true)
	c.waitOp(t, c.stuck, lbagent.OpRunning)
	for i := range 3 {
		if node := c.connect(t, mqttConnect(4, "sticky", "")); node != moved {
			t.Errorf("reconnection %d after %s came back: client sticky went to %s, want %s where its new session is", i, c.stuck, node, moved)
		}
	}
	entry := c.table(t)["sticky"]
	if !strings.Contains(entry, " server_key="+moved+" ") || !strings.Contains(entry, " use=4 ") {
		t.Errorf("stick table entry of client sticky: %q; want its node %s and its 4 open connections (use=4)", entry, moved)
	}
}

// dynsecCluster is three fake nodes behind a real HAProxy running the
// demo's dynsec config.
type dynsecCluster struct {
	frontend string
	nodes    []*dynsecNode
	rt       *lbagent.Runtime
	stuck    string // the node of client sticky (testSticky)

	mu   sync.Mutex
	open []net.Conn // client connections, closed when the test ends
}

// conns returns the client connections made so far.
func (c *dynsecCluster) conns() []net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.open)
}

func startDynsecCluster(t *testing.T) *dynsecCluster {
	t.Helper()
	base, err := FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLayout(t.TempDir(), base, "demo")
	if err != nil {
		t.Fatal(err)
	}
	c := &dynsecCluster{frontend: l.Proxy.MQTTAddr}
	for _, n := range l.Nodes {
		c.nodes = append(c.nodes, startDynsecNode(t, n))
	}
	haproxytest.StartConfig(t, writeDynsecProxyFiles(t, l), l.Proxy.Socket) // killed before the nodes close
	t.Cleanup(func() {
		for _, conn := range c.conns() {
			_ = conn.Close() // the test is over; most are open
		}
	})
	if c.rt, err = lbagent.NewRuntime(l.Proxy.Socket, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		c.waitOp(t, n.name, lbagent.OpRunning)
	}
	return c
}

func (c *dynsecCluster) node(name string) *dynsecNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// nodeOf returns the node that received a connection from the client
// address addr, or "".
func (c *dynsecCluster) nodeOf(addr string) string {
	for _, n := range c.nodes {
		if _, ok := n.client(addr); ok {
			return n.name
		}
	}
	return ""
}

// connect sends pkt, a CONNECT, through HAProxy, waits for the CONNACK
// and returns the node that answered, which must have got the client
// identifier pkt carries. The connection stays open until the test ends.
func (c *dynsecCluster) connect(t *testing.T, pkt []byte) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.frontend, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.open = append(c.open, conn)
	c.mu.Unlock()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var ack [4]byte
	if _, err := conn.Write(pkt); err != nil {
		t.Fatalf("send CONNECT: %v", err)
	}
	if _, err := io.ReadFull(conn, ack[:]); err != nil || ack != connack {
		t.Fatalf("CONNACK % x, %v; want % x", ack, err, connack)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	name := c.nodeOf(conn.LocalAddr().String())
	_, body, err := readPacket(bytes.NewReader(pkt))
	if err != nil {
		t.Fatal(err)
	}
	want, err := connectClientID(body)
	if err != nil {
		t.Fatal(err)
	}
	if name == "" {
		t.Fatalf("no node got the client at %s", conn.LocalAddr())
	}
	if id, _ := c.node(name).client(conn.LocalAddr().String()); id != want {
		t.Fatalf("node %s got client identifier %q, want %q", name, id, want)
	}
	return name
}

// refused sends data as a client's first bytes and expects HAProxy to
// close the connection at once (well before inspect-delay), without
// relaying it to a node.
func (c *dynsecCluster) refused(t *testing.T, name string, data []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.frontend, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write(data); err != nil {
		// HAProxy closed the connection while data was being written.
		t.Logf("%s: write: %v", name, err)
	} else if err := closedWithin(conn, 3*time.Second); err != nil {
		t.Errorf("%s: %v; want the connection refused at once", name, err)
	}
	t.Logf("%s: refused after %v", name, time.Since(start).Round(time.Millisecond))
	if node := c.nodeOf(conn.LocalAddr().String()); node != "" {
		t.Errorf("%s: relayed to %s", name, node)
	}
}

type silentResult struct {
	addr  string
	after time.Duration
	err   error
}

// watchSilent connects a client that never sends anything and reports,
// within 15 s, when HAProxy closed it.
func (c *dynsecCluster) watchSilent(t *testing.T) <-chan silentResult {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.frontend, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan silentResult, 1)
	go func() {
		defer conn.Close()
		start := time.Now()
		err := closedWithin(conn, 15*time.Second)
		res <- silentResult{addr: conn.LocalAddr().String(), after: time.Since(start), err: err}
	}()
	return res
}

// closedWithin reads conn until its peer closes it (EOF or a reset) and
// fails if that takes longer than d or if data arrives.
func closedWithin(conn net.Conn, d time.Duration) error {
	if err := conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	var b [64]byte
	n, err := conn.Read(b[:])
	var ne net.Error
	switch {
	case n > 0:
		return fmt.Errorf("got % x, want the connection closed", b[:n])
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return nil
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("still open after %v", d)
	}
	return fmt.Errorf("read: %w", err)
}

// waitOp polls HAProxy until the health checks put server name in state
// want.
func (c *dynsecCluster) waitOp(t *testing.T, name string, want lbagent.OpState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := c.rt.ServersState(context.Background(), Backend)
		if err != nil {
			t.Fatalf("show servers state: %v", err)
		}
		i := slices.IndexFunc(s, func(srv lbagent.ServerState) bool { return srv.Name == name })
		if i < 0 {
			t.Fatalf("no server %s in %v", name, s)
		}
		if s[i].Op == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %v in HAProxy after 10s, want %v", name, s[i].Op, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// table returns the stick table's entries, by client identifier, e.g.
// "0x55d6...: key=dev-7 use=0 exp=2073597458 server_id=1 server_key=n1".
func (c *dynsecCluster) table(t *testing.T) map[string]string {
	t.Helper()
	out, err := c.rt.Do(context.Background(), "show table "+Backend)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if key, ok := strings.CutPrefix(f, "key="); ok {
				entries[key] = line + " "
			}
		}
	}
	return entries
}

// connack is the fake nodes' answer to every CONNECT: accepted, no
// session present (MQTT 3.1.1).
var connack = [4]byte{0x20, 0x02, 0x00, 0x00}

// dynsecNode is a fake node. On its MQTT port it reads the PROXY v2
// header HAProxy sends and the client's CONNECT, records the client's
// address and identifier, answers connack and keeps the connection open.
// On its HTTP port GET /ready answers 200, or 503 while ready is false.
type dynsecNode struct {
	name  string
	ready atomic.Bool

	t       *testing.T
	ln      net.Listener
	closing atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	clients map[string]string // client address (from the PROXY header) -> client identifier
	conns   []net.Conn
}

// startDynsecNode listens on n's MQTT and HTTP addresses until the test
// ends.
func startDynsecNode(t *testing.T, n Node) *dynsecNode {
	t.Helper()
	d := &dynsecNode{name: n.Name, t: t, clients: map[string]string{}}
	d.ready.Store(true)
	var err error
	if d.ln, err = net.Listen("tcp", n.MQTTAddr); err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", n.HTTPAddr)
	if err != nil {
		_ = d.ln.Close() // failing anyway
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(d.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(2)
	go d.accept()
	go func() {
		defer d.wg.Done()
		if err := hs.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("fake %s: http: %v", d.name, err)
		}
	}()
	t.Cleanup(func() {
		d.close()
		if err := hs.Close(); err != nil {
			t.Errorf("fake %s: close http: %v", d.name, err)
		}
		d.wg.Wait()
	})
	return d
}

func (d *dynsecNode) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != "/ready":
		w.WriteHeader(http.StatusNotFound)
	case d.ready.Load():
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

func (d *dynsecNode) accept() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			if !d.closing.Load() {
				d.t.Errorf("fake %s: accept: %v", d.name, err)
			}
			return
		}
		d.mu.Lock()
		if d.closing.Load() {
			d.mu.Unlock()
			_ = c.Close() // shutting down
			continue
		}
		d.conns = append(d.conns, c)
		d.wg.Add(1)
		d.mu.Unlock()
		go d.serve(c)
	}
}

func (d *dynsecNode) serve(c net.Conn) {
	defer d.wg.Done()
	defer c.Close()
	src, id, err := readProxyConnect(c)
	if err == nil {
		d.mu.Lock()
		d.clients[src] = id
		d.mu.Unlock()
		_, err = c.Write(connack[:])
	}
	if err != nil {
		if !d.closing.Load() {
			d.t.Errorf("fake %s: %v", d.name, err)
		}
		return
	}
	// Open until the client, HAProxy or the test closes it: its end,
	// however it comes, is what this waits for.
	_, _ = io.Copy(io.Discard, c)
}

// close stops accepting and closes every connection.
func (d *dynsecNode) close() {
	d.mu.Lock()
	d.closing.Store(true)
	conns := d.conns
	d.mu.Unlock()
	_ = d.ln.Close() // the accept loop ends with it
	for _, c := range conns {
		_ = c.Close() // its serve goroutine ends with it
	}
}

// client returns the identifier of the client at addr, if it reached d.
func (d *dynsecNode) client(addr string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.clients[addr]
	return id, ok
}

// proxyV2Sig starts every PROXY protocol v2 header.
const proxyV2Sig = "\r\n\r\n\x00\r\nQUIT\n"

// readProxyConnect reads the PROXY v2 header c starts with (HAProxy's
// send-proxy-v2) and the CONNECT after it, within 5 s, and returns the
// client's address the header names and the CONNECT's client identifier.
func readProxyConnect(c net.Conn) (src, id string, err error) {
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", "", err
	}
	var hdr [16]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return "", "", fmt.Errorf("read PROXY header: %w", err)
	}
	if string(hdr[:12]) != proxyV2Sig || hdr[12] != 0x21 || hdr[13] != 0x11 {
		return "", "", fmt.Errorf("no PROXY v2 TCP4 header: % x", hdr)
	}
	block := make([]byte, binary.BigEndian.Uint16(hdr[14:]))
	if _, err := io.ReadFull(c, block); err != nil {
		return "", "", fmt.Errorf("read PROXY addresses: %w", err)
	}
	if len(block) < 12 {
		return "", "", fmt.Errorf("PROXY addresses % x: too short", block)
	}
	src = net.JoinHostPort(net.IP(block[:4]).String(), strconv.Itoa(int(binary.BigEndian.Uint16(block[8:]))))
	typ, body, err := readPacket(c)
	if err != nil {
		return "", "", err
	}
	if typ != 0x10 {
		return "", "", fmt.Errorf("first packet %#x from %s, want a CONNECT", typ, src)
	}
	if id, err = connectClientID(body); err != nil {
		return "", "", err
	}
	return src, id, c.SetReadDeadline(time.Time{})
}

// readPacket reads one MQTT control packet: its first byte and its body.
func readPacket(r io.Reader) (byte, []byte, error) {
	var first [1]byte
	if _, err := io.ReadFull(r, first[:]); err != nil {
		return 0, nil, fmt.Errorf("read MQTT packet: %w", err)
	}
	n, err := readVarint(r)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("read MQTT packet body: %w", err)
	}
	return first[0], body, nil
}

// readVarint reads a Variable Byte Integer (at most 4 bytes).
func readVarint(r io.Reader) (int, error) {
	n := 0
	for i := range 4 {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("read MQTT length: %w", err)
		}
		n |= int(b[0]&0x7f) << (7 * i)
		if b[0] < 0x80 {
			return n, nil
		}
	}
	return 0, errors.New("MQTT length longer than 4 bytes")
}

// connectClientID returns the client identifier of a CONNECT's body.
func connectClientID(body []byte) (string, error) {
	r := bytes.NewReader(body)
	if _, err := readString(r); err != nil { // protocol name
		return "", err
	}
	var hdr [4]byte // protocol level, connect flags, keep alive
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", fmt.Errorf("CONNECT header: %w", err)
	}
	if hdr[0] == 5 {
		n, err := readVarint(r)
		if err != nil {
			return "", err
		}
		if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
			return "", fmt.Errorf("CONNECT properties: %w", err)
		}
	}
	return readString(r)
}

// readString reads an MQTT UTF-8 string: 2 bytes of length, then it.
func readString(r io.Reader) (string, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", fmt.Errorf("MQTT string length: %w", err)
	}
	s := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(r, s); err != nil {
		return "", fmt.Errorf("MQTT string: %w", err)
	}
	return string(s), nil
}

// mqttConnect builds a CONNECT with a clean session, keep alive 60 s
// and client identifier id; with a password, the user name "demo" and
// that password. version 4 is MQTT 3.1.1; 3 is MQTT 3.1 (protocol name
// MQIsdp); 5 is MQTT 5.0, sent with a Session Expiry Interval and a User
// Property, as persistent MQTT 5 clients send.
func mqttConnect(version byte, id, password string) []byte {
	name := "MQTT"
	if version == 3 {
		name = "MQIsdp"
	}
	flags := byte(0x02) // clean session [MQTT-3.1.2-4]
	if password != "" {
		flags |= 0x80 | 0x40 // user name and password [MQTT-3.1.2-18..21]
	}
	body := append(appendString(nil, name), version, flags, 0, 60)
	if version == 5 {
		props := []byte{0x11, 0, 0, 0x0e, 0x10}                           // Session Expiry Interval: 3600 s
		props = appendString(appendString(append(props, 0x26), "k"), "v") // User Property k=v
		body = append(appendVarint(body, len(props)), props...)
	}
	body = appendString(body, id)
	if password != "" {
		body = appendString(appendString(body, "demo"), password)
	}
	return append(appendVarint([]byte{0x10}, len(body)), body...)
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func appendVarint(b []byte, n int) []byte {
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(b, d)
		}
		b = append(b, d|0x80)
	}
}
