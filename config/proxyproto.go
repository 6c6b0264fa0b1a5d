package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// ProxyProtocol is mqtt.listeners[].proxy_protocol: connections from a
// Trusted peer (a TCP proxy such as HAProxy with send-proxy-v2) may start
// with a PROXY protocol header (v1 or v2) giving the client's address,
// which then stands for the connection's remote address (logs,
// mqtt.auth_rate_limit). A header from any other peer is refused, or
// anyone could claim any address. Plain MQTT is accepted from everyone.
type ProxyProtocol struct {
	Trusted []string `yaml:"trusted"` // IP addresses or CIDR prefixes of the proxies; at least one
}

// TrustedPrefixes parses Trusted: an address stands for itself alone (a
// /32 or /128 prefix). Its errors are *Error values whose paths start
// with "trusted".
func (p *ProxyProtocol) TrustedPrefixes() ([]netip.Prefix, error) {
	var errs Errors
	prefixes := p.check(&errs, "trusted")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return prefixes, nil
}

// check validates p, reporting problems under path (e.g.
// "mqtt.listeners[0].proxy_protocol"), and returns the trusted prefixes,
// or nil if there were problems.
func (p *ProxyProtocol) check(errs *Errors, path string) []netip.Prefix {
	if len(p.Trusted) == 0 {
		errs.Add(path+".trusted", "missing: list the addresses (or CIDR prefixes) of the proxies that send PROXY headers, e.g. [127.0.0.1/32]")
		return nil
	}
	before := len(*errs)
	out := make([]netip.Prefix, 0, len(p.Trusted))
	for i, s := range p.Trusted {
		if pr, ok := parseTrusted(errs, fmt.Sprintf("%s.trusted[%d]", path, i), s); ok {
			out = append(out, pr)
		}
	}
	if len(*errs) > before {
		return nil
	}
	return out
}

// parseTrusted parses one trusted entry: an IP address or a CIDR prefix
// without host bits ("10.0.0.1/24" is an error: 10.0.0.0/24 or
// 10.0.0.1/32 was meant). IPv4-mapped IPv6 entries are taken as IPv4.
func parseTrusted(errs *Errors, path, s string) (netip.Prefix, bool) {
	if s == "" {
		errs.Add(path, "missing: an IP address or CIDR prefix such as 10.0.0.10 or 10.0.0.0/24")
		return netip.Prefix{}, false
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			errs.Add(path, "%q is not an IP address or CIDR prefix (such as 10.0.0.10 or 10.0.0.0/24)", s)
			return netip.Prefix{}, false
		case a.Zone() != "":
			errs.Add(path, "%q has a zone: give the address without %%%s", s, a.Zone())
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		errs.Add(path, "%q is not an IP address or CIDR prefix (such as 10.0.0.10 or 10.0.0.0/24)", s)
		return netip.Prefix{}, false
	}
	if m := pr.Masked(); m != pr {
		errs.Add(path, "%q has bits set after the /%d prefix: write %s for the network, or %s for the one address",
			s, pr.Bits(), m, netip.PrefixFrom(pr.Addr(), pr.Addr().BitLen()))
		return netip.Prefix{}, false
	}
	if pr.Addr().Is4In6() && pr.Bits() >= 96 {
		pr = netip.PrefixFrom(pr.Addr().Unmap(), pr.Bits()-96)
	}
	return pr, true
}
