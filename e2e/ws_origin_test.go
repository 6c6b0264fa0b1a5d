package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWebSocketAllowedOrigins: a websocket listener with allowed_origins
// upgrades a browser whose page comes from a listed origin (in any case),
// refuses one from another site with 403 (cross-site WebSocket hijacking:
// a page elsewhere cannot use a visitor's network position), and always
// accepts a client that sends no Origin (not a browser).
func TestWebSocketAllowedOrigins(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n := newNode(t, "    - type: websocket\n      address: "+addr+"\n      allowed_origins: [\"https://dash.example.com\"]\n")
	n.start()
	dial := func(origin string) int {
		t.Helper()
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.Dial("ws://"+addr+"/", h)
		if err == nil {
			defer c.Close()
			return resp.StatusCode
		}
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			return resp.StatusCode
		}
		t.Fatalf("dial with Origin %q: %v", origin, err)
		return 0
	}
	for _, c := range []struct {
		origin string
		want   int
	}{
		{"https://dash.example.com", http.StatusSwitchingProtocols},
		{"HTTPS://Dash.Example.com", http.StatusSwitchingProtocols},
		{"https://evil.example.net", http.StatusForbidden},
		{"http://dash.example.com", http.StatusForbidden},
		{"", http.StatusSwitchingProtocols},
	} {
		if got := dial(c.origin); got != c.want {
			t.Errorf("Origin %q: handshake status %d, want %d", c.origin, got, c.want)
		}
	}
}
