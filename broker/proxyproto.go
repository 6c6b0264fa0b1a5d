package broker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2)
// lets a TCP proxy tell the server whom it relays: before the client's
// first byte it sends one header naming the client's address. A listener
// with mqtt.listeners[].proxy_protocol reads that header from the peers it
// trusts, and the connection's RemoteAddr becomes the client's address,
// which the logs and the failed-authentication limit (authGuard) see
// through mochi's cl.Net.Remote.

// proxyHeaderTimeout bounds how long a connection on a listener with
// proxy_protocol may take to send its PROXY header, or its first bytes
// when it sends none: a silent or slow peer cannot hold its goroutine.
const proxyHeaderTimeout = 5 * time.Second

const (
	// proxyV1MaxLen is the longest v1 header, "\r\n" included (spec 2.1:
	// a 108-byte buffer holds any line and a trailing zero).
	proxyV1MaxLen = 107
	// proxyV2MaxLen bounds the address block of a v2 header, TLVs
	// included (the spec allows 65535). HAProxy's is 12 or 36 bytes
	// without proxy-v2-options; cloud load balancers add a few dozen.
	proxyV2MaxLen = 2048
	// proxyReadBuffer is the buffer the header is read through: a whole
	// v1 line or v2 fixed part fits.
	proxyReadBuffer = 256
)

var (
	proxyV1Prefix = []byte("PROXY ")
	// proxyV2Sig is the 12-byte signature of a v2 header (spec 2.2).
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// Errors of readProxyHeader.
var (
	// errProxyUntrusted: a peer that is not trusted sent a PROXY header.
	errProxyUntrusted = errors.New("PROXY header from a peer that is not in proxy_protocol.trusted")
	// errProxyHeader: a trusted peer sent a malformed or oversized header.
	errProxyHeader = errors.New("invalid PROXY header")
)

// proxyTrust is the set of peers a listener accepts PROXY headers from.
type proxyTrust []netip.Prefix

// trusts reports whether the peer at addr (a *net.TCPAddr) is trusted.
func (t proxyTrust) trusts(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	a, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// proxiedConn is a connection whose PROXY header has been read: RemoteAddr
// is the client's address from the header, and Read returns the bytes read
// past the header before reading conn again.
type proxiedConn struct {
	net.Conn
	rest   []byte   // bytes read past the header, not yet returned by Read
	remote net.Addr // the client's address; nil: the peer's
}

func (c *proxiedConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.rest = nil // let the buffer go
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *proxiedConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// readProxyHeader reads the PROXY header conn may start with, within
// timeout (from now), and returns the connection to serve: with a header,
// one whose RemoteAddr is the client's address (the peer's for a LOCAL or
// UNKNOWN header); without, one that returns the same bytes as conn.
// trusted says whether the peer may send a header: a header from an
// untrusted peer is errProxyUntrusted, and is not parsed. A malformed
// header is errProxyHeader; a timeout or a connection closed before its
// first bytes is the read error. On error the caller closes conn. The
// read deadline is cleared on success.
func readProxyHeader(conn net.Conn, trusted bool, timeout time.Duration) (net.Conn, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, fmt.Errorf("set PROXY header deadline: %w", err)
	}
	br := bufio.NewReaderSize(conn, proxyReadBuffer)
	remote, err := parseProxyHeader(br, trusted)
	if err != nil {
		return nil, err
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear PROXY header deadline: %w", err)
	}
	pc := &proxiedConn{Conn: conn, remote: remote}
	if n := br.Buffered(); n > 0 {
		rest, err := br.Peek(n)
		if err != nil {
			return nil, fmt.Errorf("PROXY header: %w", err) // cannot happen: n bytes are buffered
		}
		pc.rest = bytes.Clone(rest)
	}
	return pc, nil
}

// parseProxyHeader reads a v1 or v2 header from br if there is one and
// returns the client address it carries (nil: the peer's). It reads
// nothing past the header but what br buffers; without a header it
// consumes nothing.
func parseProxyHeader(br *bufio.Reader, trusted bool) (net.Addr, error) {
	first, err := br.Peek(1)
	if err != nil {
		return nil, err
	}
	var v1 bool
	switch first[0] {
	case proxyV1Prefix[0]:
		b, err := br.Peek(len(proxyV1Prefix))
		if err != nil || !bytes.Equal(b, proxyV1Prefix) {
			// Not a header: the broker answers whatever this is.
			return nil, ignoreShort(err)
		}
		v1 = true
	case proxyV2Sig[0]:
		b, err := br.Peek(len(proxyV2Sig))
		if err != nil || !bytes.Equal(b, proxyV2Sig) {
			return nil, ignoreShort(err)
		}
	default:
		return nil, nil // plain MQTT (or TLS)
	}
	if !trusted {
		return nil, errProxyUntrusted
	}
	if v1 {
		return parseProxyV1(br)
	}
	return parseProxyV2(br)
}

// ignoreShort turns the end of a connection that sent too few bytes to
// tell whether they start a header into no error: the broker then reads
// them, and the end, itself.
func ignoreShort(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// parseProxyV1 reads a v1 header (spec 2.1), "PROXY TCP4|TCP6 SRC DST
// SPORT DPORT\r\n" or "PROXY UNKNOWN...\r\n", of at most proxyV1MaxLen
// bytes.
func parseProxyV1(br *bufio.Reader) (net.Addr, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > proxyV1MaxLen:
		return nil, fmt.Errorf("%w: v1 line longer than %d bytes", errProxyHeader, proxyV1MaxLen)
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: v1 line cut short (%d bytes, no CRLF): %w", errProxyHeader, len(line), io.ErrUnexpectedEOF)
	case err != nil:
		return nil, err
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return nil, fmt.Errorf("%w: v1 line does not end with CRLF", errProxyHeader)
	}
	f := strings.Split(s, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil // the rest of the line is to be ignored (spec 2.1)
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("%w: v1 line %q is not PROXY TCP4|TCP6 SRC DST SPORT DPORT", errProxyHeader, s)
	}
	var src netip.Addr
	for _, field := range f[2:4] {
		a, err := netip.ParseAddr(field)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%w: v1 line %q: bad address %q", errProxyHeader, s, field)
		}
		if (f[1] == "TCP4") != a.Is4() {
			return nil, fmt.Errorf("%w: v1 line %q: %s is not of family %s", errProxyHeader, s, field, f[1])
		}
		if !src.IsValid() {
			src = a
		}
	}
	sport, err := strconv.ParseUint(f[4], 10, 16)
	if err == nil {
		_, err = strconv.ParseUint(f[5], 10, 16)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: v1 line %q: bad port", errProxyHeader, s)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(sport))), nil
}

// v2 header fields (spec 2.2).
const (
	proxyV2Version = 0x2
	proxyV2Local   = 0x0 // command: the proxy's own connection (a health check)
	proxyV2Proxy   = 0x1 // command: a relayed connection
	proxyAFUnspec  = 0x0
	proxyAFInet    = 0x1
	proxyAFInet6   = 0x2
	proxyAFUnix    = 0x3
	proxyStream    = 0x1 // transport: TCP
)

// parseProxyV2 reads a v2 header: the signature, version and command,
// family and transport, the length of the address block, and that block
// (addresses, ports, then TLVs, which are checked for framing only).
func parseProxyV2(br *bufio.Reader) (net.Addr, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(br, fixed[:]); err != nil {
		return nil, shortV2(err)
	}
	verCmd, famProto := fixed[12], fixed[13]
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if v := verCmd >> 4; v != proxyV2Version {
		return nil, fmt.Errorf("%w: v2 version %d, want 2", errProxyHeader, v)
	}
	cmd := verCmd & 0x0f
	if cmd != proxyV2Local && cmd != proxyV2Proxy {
		return nil, fmt.Errorf("%w: v2 command %#x is neither LOCAL nor PROXY", errProxyHeader, cmd)
	}
	if n > proxyV2MaxLen {
		return nil, fmt.Errorf("%w: v2 address block of %d bytes, more than %d", errProxyHeader, n, proxyV2MaxLen)
	}
	block := make([]byte, n)
	if _, err := io.ReadFull(br, block); err != nil {
		return nil, shortV2(err)
	}
	if cmd == proxyV2Local {
		return nil, nil // the address block is to be ignored (spec 2.2)
	}
	var addrLen int
	switch fam, proto := famProto>>4, famProto&0x0f; {
	case fam == proxyAFUnspec, fam == proxyAFUnix:
		return nil, nil // no IP address to use: keep the peer's
	case fam != proxyAFInet && fam != proxyAFInet6:
		return nil, fmt.Errorf("%w: v2 address family %#x", errProxyHeader, fam)
	case proto != proxyStream:
		return nil, fmt.Errorf("%w: v2 transport %#x is not TCP", errProxyHeader, proto)
	case fam == proxyAFInet:
		addrLen = 4
	default:
		addrLen = 16
	}
	if n < 2*addrLen+4 {
		return nil, fmt.Errorf("%w: v2 address block of %d bytes, too short for its family", errProxyHeader, n)
	}
	if err := checkTLVs(block[2*addrLen+4:]); err != nil {
		return nil, err
	}
	src, _ := netip.AddrFromSlice(block[:addrLen]) // addrLen is 4 or 16: always valid
	port := binary.BigEndian.Uint16(block[2*addrLen:])
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, port)), nil
}

// checkTLVs checks that b is a sequence of whole TLVs (type, 16-bit
// length, value).
func checkTLVs(b []byte) error {
	for len(b) > 0 {
		if len(b) < 3 {
			return fmt.Errorf("%w: v2 TLV cut short", errProxyHeader)
		}
		n := 3 + int(binary.BigEndian.Uint16(b[1:3]))
		if n > len(b) {
			return fmt.Errorf("%w: v2 TLV of type %#x longer than the address block", errProxyHeader, b[0])
		}
		b = b[n:]
	}
	return nil
}

// shortV2 describes a v2 header the connection ended in.
func shortV2(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: v2 header cut short: %w", errProxyHeader, io.ErrUnexpectedEOF)
	}
	return err
}
