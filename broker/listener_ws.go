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

func newWebsocketListener(conf listeners.Config) *websocketListener {
	return &websocketListener{
		conf: conf,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			CheckOrigin:  func(*http.Request) bool { return true },
		},
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
			return // Upgrade has answered the request
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
