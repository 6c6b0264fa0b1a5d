package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/triadmq/triad/config"
)

// websocketListener serves MQTT over WebSocket (subprotocol "mqtt"), or
// over secure WebSocket with a TLS config. Unlike mochi's own, it binds its
// address in Init, so a port in use is a startup error, not a log line.
type websocketListener struct {
	conf     listeners.Config
	log      *slog.Logger
	ln       net.Listener
	srv      *http.Server
	upgrader websocket.Upgrader
	closed   sync.Once
}

// newWebsocketListener makes the listener of conf; origins are the web
// origins whose pages may connect (mqtt.listeners[].allowed_origins):
// empty or "*" allows any. A request without an Origin header (not from a
// browser) is always allowed.
func newWebsocketListener(conf listeners.Config, origins []string) *websocketListener {
	l := &websocketListener{conf: conf, upgrader: websocket.Upgrader{Subprotocols: []string{"mqtt"}}}
	l.upgrader.CheckOrigin = originChecker(origins)
	return l
}

// originChecker allows the requests whose Origin is one of origins (any
// when origins is empty or holds "*"), or that carry none.
func originChecker(origins []string) func(*http.Request) bool {
	allowed := map[string]bool{}
	for _, o := range origins {
		if o == "*" {
			return func(*http.Request) bool { return true }
		}
		allowed[config.NormalizeOrigin(o)] = true
	}
	if len(allowed) == 0 {
		return func(*http.Request) bool { return true }
	}
	return func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		return o == "" || allowed[config.NormalizeOrigin(o)]
	}
}

func (l *websocketListener) ID() string { return l.conf.ID }

func (l *websocketListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.conf.Address
}

func (l *websocketListener) Protocol() string {
	if l.conf.TLSConfig != nil {
		return "wss"
	}
	return "ws"
}

func (l *websocketListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.conf.Address)
	if err != nil {
		return err
	}
	if l.conf.TLSConfig != nil {
		ln = tls.NewListener(ln, l.conf.TLSConfig)
	}
	l.ln = ln
	return nil
}

func (l *websocketListener) Serve(establish listeners.EstablishFn) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, err := l.upgrader.Upgrade(w, r, nil)
		if err != nil {
			// Upgrade has answered the request (403 for an origin not in
			// allowed_origins, 400 for a request that is no upgrade).
			l.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "error", err)
			return
		}
		defer c.Close()
		if err := establish(l.conf.ID, &wsConn{Conn: c.NetConn(), c: c}); err != nil {
			l.log.Debug("websocket client ended", "error", err)
		}
	})
	// The server's own errors (TLS handshakes that fail, as for a client
	// offering only TLS 1.1) go to the listener's log, as the TCP
	// listener's do, rather than to the standard logger.
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(l.log.With("listener", l.conf.ID).Handler(), slog.LevelWarn)}
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err, "listener", l.conf.ID)
	}
}

func (l *websocketListener) Close(closeClients listeners.CloseFn) {
	l.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if l.srv != nil {
			if err := l.srv.Shutdown(ctx); err != nil {
				l.log.Warn("websocket listener shutdown", "error", err)
			}
		} else if l.ln != nil {
			if err := l.ln.Close(); err != nil {
				l.log.Warn("websocket listener close", "error", err)
			}
		}
	})
	closeClients(l.conf.ID)
}

// wsConn carries an MQTT byte stream over binary WebSocket messages.
type wsConn struct {
	net.Conn
	c *websocket.Conn
	r io.Reader // the message being read, or nil
}

var errWSText = errors.New("websocket: MQTT needs binary messages")

func (ws *wsConn) Read(p []byte) (int, error) {
	for {
		if ws.r == nil {
			op, r, err := ws.c.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errWSText
			}
			ws.r = r
		}
		n, err := ws.r.Read(p)
		if errors.Is(err, io.EOF) {
			ws.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (ws *wsConn) Write(p []byte) (int, error) {
	if err := ws.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (ws *wsConn) Close() error { return ws.c.Close() }
