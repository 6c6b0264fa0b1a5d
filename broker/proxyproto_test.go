package broker

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triadmq/triad/config"
)

// mqttConnect is the start of an MQTT CONNECT: what follows a header.
const mqttConnect = "\x10\x0c\x00\x04MQTT\x04\x02\x00\x1e"

// tcpPair returns both ends of a loopback TCP connection: the client's
// and the server's.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// v2Header builds a v2 header: version/command byte, family/transport
// byte, and the address block.
func v2Header(verCmd, famProto byte, block []byte) string {
	var b bytes.Buffer
	b.Write(proxyV2Sig)
	b.WriteByte(verCmd)
	b.WriteByte(famProto)
	if err := binary.Write(&b, binary.BigEndian, uint16(len(block))); err != nil {
		panic(err)
	}
	b.Write(block)
	return b.String()
}

// v2Inet is the address block of a TCP connection from src to dst, with
// tlvs after it.
func v2Inet(src, dst netip.AddrPort, tlvs ...byte) []byte {
	b := append(src.Addr().AsSlice(), dst.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return append(b, tlvs...)
}

func TestReadProxyHeader(t *testing.T) {
	ap := netip.MustParseAddrPort
	v4 := v2Inet(ap("192.0.2.7:40001"), ap("10.0.0.1:1883"))
	v6 := v2Inet(ap("[2001:db8::7]:40002"), ap("[2001:db8::1]:1883"))
	tlvs := v2Inet(ap("192.0.2.9:40003"), ap("10.0.0.1:1883"),
		0x01, 0x00, 0x04, 'm', 'q', 't', 't', // PP2_TYPE_ALPN
		0x04, 0x00, 0x00) // PP2_TYPE_NOOP, empty
	tests := []struct {
		name    string
		in      string
		close   bool   // the client closes after sending in
		trusted bool   // the peer is trusted
		remote  string // want RemoteAddr; "peer": the peer's
		err     error  // want this error (errors.Is), then nothing else is checked
	}{
		{name: "plain MQTT, trusted", in: mqttConnect, trusted: true, remote: "peer"},
		{name: "plain MQTT, untrusted", in: mqttConnect, remote: "peer"},
		{name: "P but not PROXY is left to the broker", in: "PUBLISH", trusted: true, remote: "peer"},
		{name: "CR but not the v2 signature is left to the broker", in: "\r\n\r\n\x00\r\nQUIZ\n....", remote: "peer"},
		{name: "a few bytes then EOF are left to the broker", in: "PRO", close: true, remote: "peer"},

		{name: "v1 TCP4", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40001 1883\r\n" + mqttConnect, trusted: true, remote: "192.0.2.7:40001"},
		{name: "v1 TCP6", in: "PROXY TCP6 2001:db8::7 2001:db8::1 40002 1883\r\n" + mqttConnect, trusted: true, remote: "[2001:db8::7]:40002"},
		{name: "v1 UNKNOWN", in: "PROXY UNKNOWN\r\n" + mqttConnect, trusted: true, remote: "peer"},
		{name: "v1 UNKNOWN with addresses", in: "PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n" + mqttConnect, trusted: true, remote: "peer"},
		{name: "v1 longest line", in: "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n" + mqttConnect,
			trusted: true, remote: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
		{name: "v2 IPv4", in: v2Header(0x21, 0x11, v4) + mqttConnect, trusted: true, remote: "192.0.2.7:40001"},
		{name: "v2 IPv6", in: v2Header(0x21, 0x21, v6) + mqttConnect, trusted: true, remote: "[2001:db8::7]:40002"},
		{name: "v2 with TLVs", in: v2Header(0x21, 0x11, tlvs) + mqttConnect, trusted: true, remote: "192.0.2.9:40003"},
		{name: "v2 LOCAL", in: v2Header(0x20, 0x00, nil) + mqttConnect, trusted: true, remote: "peer"},
		{name: "v2 LOCAL with addresses", in: v2Header(0x20, 0x11, v4) + mqttConnect, trusted: true, remote: "peer"},
		{name: "v2 UNSPEC family", in: v2Header(0x21, 0x00, nil) + mqttConnect, trusted: true, remote: "peer"},
		{name: "v2 header then TLS", in: v2Header(0x21, 0x11, v4) + "\x16\x03\x01", trusted: true, remote: "192.0.2.7:40001"},

		{name: "v1 from an untrusted peer", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40001 1883\r\n", err: errProxyUntrusted},
		{name: "v2 from an untrusted peer", in: v2Header(0x21, 0x11, v4), err: errProxyUntrusted},
		{name: "v2 LOCAL from an untrusted peer", in: v2Header(0x20, 0x00, nil), err: errProxyUntrusted},

		{name: "v1 truncated", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40", close: true, trusted: true, err: errProxyHeader},
		{name: "v2 truncated fixed part", in: v2Header(0x21, 0x11, v4)[:14], close: true, trusted: true, err: errProxyHeader},
		{name: "v2 truncated address block", in: v2Header(0x21, 0x11, v4)[:20], close: true, trusted: true, err: errProxyHeader},
		{name: "v1 oversized, no CRLF", in: "PROXY TCP4 " + strings.Repeat("1", 300), trusted: true, err: errProxyHeader},
		{name: "v1 longer than 107 bytes", in: "PROXY UNKNOWN " + strings.Repeat("x", 100) + "\r\n", trusted: true, err: errProxyHeader},
		{name: "v2 oversized address block", in: v2Header(0x21, 0x11, make([]byte, proxyV2MaxLen+1)), trusted: true, err: errProxyHeader},
		{name: "v1 bare LF", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40001 1883\n", trusted: true, err: errProxyHeader},
		{name: "v1 unknown protocol", in: "PROXY TCP5 192.0.2.7 10.0.0.1 40001 1883\r\n", trusted: true, err: errProxyHeader},
		{name: "v1 missing field", in: "PROXY TCP4 192.0.2.7 10.0.0.1 40001\r\n", trusted: true, err: errProxyHeader},
		{name: "v1 double space", in: "PROXY TCP4  192.0.2.7 10.0.0.1 40001 1883\r\n", trusted: true, err: errProxyHeader},
		{name: "v1 bad address", in: "PROXY TCP4 192.0.2.x 10.0.0.1 40001 1883\r\n", trusted: true, err: errProxyHeader},
		{name: "v1 TCP4 with IPv6", in: "PROXY TCP4 2001:db8::7 10.0.0.1 40001 1883\r\n", trusted: true, err: errProxyHeader},
		{name: "v1 TCP6 with IPv4 destination", in: "PROXY TCP6 2001:db8::7 10.0.0.1 40001 1883\r\n", trusted: true, err: errProxyHeader},
		{name: "v1 port out of range", in: "PROXY TCP4 192.0.2.7 10.0.0.1 65536 1883\r\n", trusted: true, err: errProxyHeader},
		{name: "v1 negative port", in: "PROXY TCP4 192.0.2.7 10.0.0.1 -1 1883\r\n", trusted: true, err: errProxyHeader},
		{name: "v2 version 1", in: v2Header(0x11, 0x11, v4), trusted: true, err: errProxyHeader},
		{name: "v2 command 2", in: v2Header(0x22, 0x11, v4), trusted: true, err: errProxyHeader},
		{name: "v2 family 4", in: v2Header(0x21, 0x41, v4), trusted: true, err: errProxyHeader},
		{name: "v2 UDP", in: v2Header(0x21, 0x12, v4), trusted: true, err: errProxyHeader},
		{name: "v2 IPv6 family, IPv4-sized block", in: v2Header(0x21, 0x21, v4), trusted: true, err: errProxyHeader},
		{name: "v2 TLV longer than the block", in: v2Header(0x21, 0x11, append(v2Inet(ap("192.0.2.7:1"), ap("10.0.0.1:2")), 0x01, 0x00, 0x09, 'x')), trusted: true, err: errProxyHeader},
		{name: "v2 TLV cut in its header", in: v2Header(0x21, 0x11, append(v2Inet(ap("192.0.2.7:1"), ap("10.0.0.1:2")), 0x01, 0x00)), trusted: true, err: errProxyHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			if _, err := io.WriteString(client, tc.in); err != nil {
				t.Fatal(err)
			}
			if tc.close {
				if err := client.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := readProxyHeader(server, tc.trusted, 5*time.Second)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				t.Logf("refused as it should be: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("readProxyHeader: %v", err)
			}
			want := tc.remote
			if want == "peer" {
				want = server.RemoteAddr().String()
			}
			if got := conn.RemoteAddr().String(); got != want {
				t.Errorf("RemoteAddr %s, want %s", got, want)
			}
			// What follows the header reaches the broker intact, and the
			// deadline is gone.
			rest := tc.in
			if i := strings.Index(tc.in, mqttConnect); i > 0 {
				rest = tc.in[i:]
			} else if i := strings.Index(tc.in, "\x16\x03\x01"); i > 0 {
				rest = tc.in[i:]
			}
			if !tc.close {
				if err := client.Close(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("read after the header: %v", err)
			}
			if string(got) != rest {
				t.Errorf("read after the header %q, want %q", got, rest)
			}
		})
	}
}

// TestReadProxyHeaderDeadline: a peer that sends nothing, or half a
// header, is given up on after the timeout, not held forever.
func TestReadProxyHeaderDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for name, in := range map[string]string{
		"silent":                        "",
		"half a v1 header":              "PROXY TCP4 192.0.2.7",
		"half a v2 header":              v2Header(0x21, 0x11, v2Inet(netip.MustParseAddrPort("192.0.2.7:1"), netip.MustParseAddrPort("10.0.0.1:2")))[:20],
		"first bytes of a v2 signature": "\r\n\r\n",
		"P":                             "P",
	} {
		t.Run(name, func(t *testing.T) {
			client, server := tcpPair(t)
			if _, err := io.WriteString(client, in); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := readProxyHeader(server, true, timeout)
			elapsed := time.Since(start)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("error %v, want a deadline exceeded", err)
			}
			if elapsed < timeout || elapsed > timeout+2*time.Second {
				t.Errorf("gave up after %v, want about %v", elapsed, timeout)
			}
		})
	}
}

func TestProxyTrust(t *testing.T) {
	trust := proxyTrust{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/64")}
	for addr, want := range map[string]bool{
		"127.0.0.1":        true,
		"127.0.0.2":        false,
		"::ffff:127.0.0.1": true, // a dual-stack socket's view of an IPv4 peer
		"10.1.200.3":       true,
		"10.2.0.1":         false,
		"2001:db8::9":      true,
		"2001:db8:1::9":    false,
	} {
		if got := trust.trusts(&net.TCPAddr{IP: net.ParseIP(addr), Port: 1}); got != want {
			t.Errorf("trusts(%s) = %v, want %v", addr, got, want)
		}
	}
	if trust.trusts(&net.UnixAddr{Name: "/x", Net: "unix"}) {
		t.Error("trusts a unix address")
	}
}

// proxyListener starts a tcp (or, with certFile, tls) listener with
// proxy_protocol trusting trusted; each connection's RemoteAddr and first
// line (up to "\n", after TLS) are sent on the returned channel.
func proxyListener(t *testing.T, trusted, certFile, keyFile string) (*tcpListener, <-chan [2]string, *lockedWriter) {
	t.Helper()
	lc := config.Listener{ID: "pp", Type: "tcp", Address: "127.0.0.1:0",
		ProxyProtocol: &config.ProxyProtocol{Trusted: []string{trusted}}}
	if certFile != "" {
		lc.Type = "tls"
		lc.TLS = &config.TLSConfig{Cert: certFile, Key: keyFile, MinVersion: config.DefaultTLSMinVersion}
	}
	ml, err := newListener(lc, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := ml.(*tcpListener)
	l.proxyWait = 2 * time.Second
	logs := &lockedWriter{w: &strings.Builder{}}
	// As mochi's AddListener gives it.
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelDebug})).With("listener", lc.ID)
	if err := l.Init(log); err != nil {
		t.Fatal(err)
	}
	got := make(chan [2]string, 4)
	go l.Serve(func(_ string, c net.Conn) error {
		defer c.Close()
		var line []byte
		b := make([]byte, 1)
		for {
			if _, err := c.Read(b); err != nil || b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		got <- [2]string{c.RemoteAddr().String(), string(line)}
		return nil
	})
	t.Cleanup(func() { l.Close(func(string) {}) })
	return l, got, logs
}

// TestTCPListenerProxyProtocol: the listener hands mochi a connection
// whose RemoteAddr is the header's client, over plain TCP and over TLS
// (the header comes before the handshake); it closes a connection whose
// header comes from an untrusted peer, logging the peer at Warn.
func TestTCPListenerProxyProtocol(t *testing.T) {
	header := "PROXY TCP4 192.0.2.7 10.0.0.1 40001 1883\r\n"
	recv := func(t *testing.T, got <-chan [2]string) [2]string {
		t.Helper()
		select {
		case g := <-got:
			return g
		case <-time.After(10 * time.Second):
			t.Fatal("no connection reached the broker")
			return [2]string{}
		}
	}

	t.Run("tcp", func(t *testing.T) {
		l, got, _ := proxyListener(t, "127.0.0.1/32", "", "")
		c, err := net.Dial("tcp", l.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, header+"hello\n"); err != nil {
			t.Fatal(err)
		}
		if g := recv(t, got); g != [2]string{"192.0.2.7:40001", "hello"} {
			t.Errorf("broker saw %q", g)
		}
		// Without a header: the peer's own address.
		c2, err := net.Dial("tcp", l.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if _, err := io.WriteString(c2, "plain\n"); err != nil {
			t.Fatal(err)
		}
		if g := recv(t, got); g != [2]string{c2.LocalAddr().String(), "plain"} {
			t.Errorf("broker saw %q, want %s", g, c2.LocalAddr())
		}
	})

	t.Run("tls", func(t *testing.T) {
		certFile, keyFile := writeRSACert(t)
		l, got, _ := proxyListener(t, "127.0.0.1", certFile, keyFile)
		pem, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		raw, err := net.Dial("tcp", l.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := io.WriteString(raw, header); err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if _, err := io.WriteString(c, "over tls\n"); err != nil {
			t.Fatalf("TLS after the PROXY header: %v", err)
		}
		if g := recv(t, got); g != [2]string{"192.0.2.7:40001", "over tls"} {
			t.Errorf("broker saw %q", g)
		}
	})

	t.Run("untrusted peer", func(t *testing.T) {
		l, got, logs := proxyListener(t, "127.0.0.2/32", "", "")
		c, err := net.Dial("tcp", l.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, header+"hello\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %d bytes, %v: want the connection closed", n, err)
		}
		select {
		case g := <-got:
			t.Fatalf("a forged header reached the broker: %q", g)
		default:
		}
		want := `level=WARN msg="connection refused: PROXY header from an untrusted peer" listener=pp remote=` + c.LocalAddr().String()
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not hold %q:\n%s", want, logs.String())
		}
		// Plain MQTT from the same peer is served.
		c2, err := net.Dial("tcp", l.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if _, err := io.WriteString(c2, "plain\n"); err != nil {
			t.Fatal(err)
		}
		if g := recv(t, got); g[1] != "plain" {
			t.Errorf("broker saw %q", g)
		}
	})
}

// TestNewListenerProxyProtocol: the listener types that take
// proxy_protocol, and a bad trusted entry, which Validate would have
// reported.
func TestNewListenerProxyProtocol(t *testing.T) {
	pp := &config.ProxyProtocol{Trusted: []string{"127.0.0.1/32"}}
	if _, err := newListener(config.Listener{ID: "ws", Type: "websocket", Address: "127.0.0.1:0", ProxyProtocol: pp}, nil); err == nil {
		t.Error("a websocket listener accepted proxy_protocol")
	}
	bad := &config.ProxyProtocol{Trusted: []string{"10.0.0.1/24"}}
	if _, err := newListener(config.Listener{ID: "t", Type: "tcp", Address: "127.0.0.1:0", ProxyProtocol: bad}, nil); err == nil ||
		!strings.Contains(err.Error(), "10.0.0.1/24") {
		t.Errorf("bad trusted entry: error %v, want one naming it", err)
	}
	l, err := newListener(config.Listener{ID: "t", Type: "tcp", Address: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.(*tcpListener).proxy != nil {
		t.Error("a listener without proxy_protocol trusts someone")
	}
}

// lockedWriter serialises writes to w, and reads of it through String.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
