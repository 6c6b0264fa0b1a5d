package broker

import (
	"crypto/tls"
	"fmt"

	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/triadmq/triad/config"
)

// newListener builds the mochi listener of one configured listener;
// refused, if set, counts the connections a proxy_protocol listener
// refuses, by reason.
func newListener(lc config.Listener, refused func(reason string)) (listeners.Listener, error) {
	var tlsConf *tls.Config
	if lc.TLS != nil {
		var err error
		if tlsConf, err = lc.TLS.ServerConfig(); err != nil {
			return nil, fmt.Errorf("listener %q: %w", lc.ID, err)
		}
	}
	var proxy proxyTrust
	if lc.ProxyProtocol != nil {
		prefixes, err := lc.ProxyProtocol.TrustedPrefixes()
		if err != nil {
			return nil, fmt.Errorf("listener %q: proxy_protocol: %w", lc.ID, err)
		}
		proxy = prefixes
	}
	mc := listeners.Config{ID: lc.ID, Address: lc.Address, TLSConfig: tlsConf}
	switch lc.Type {
	case "tcp", "tls":
		l := newTCPListener(mc, proxy)
		l.refused = refused
		return l, nil
	case "websocket":
		if proxy != nil {
			return nil, fmt.Errorf("listener %q: proxy_protocol is not supported on websocket listeners", lc.ID)
		}
		return newWebsocketListener(mc, lc.AllowedOrigins), nil
	}
	return nil, fmt.Errorf("listener %q: unknown type %q", lc.ID, lc.Type)
}
