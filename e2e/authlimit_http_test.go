package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// httpEndpoints are the node's read-only HTTP endpoints (node/http.go).
var httpEndpoints = []string{"/health", "/leader", "/replica", "/status", "/metrics", "/state/digest"}

// secretForms returns the forms in which the bytes b could leak: base64
// (standard, unpadded, URL) and hex.
func secretForms(b []byte) []string {
	return []string{base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(b)}
}

// dynsecSecrets reads the dynamic-security file at path and returns, for
// every client with a password, its stored hash and salt in every form of
// secretForms; it fails unless the file holds a password for want.
func dynsecSecrets(t *testing.T, path, want string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Clients []struct {
			Username string `json:"username"`
			Password string `json:"password"`
			Salt     string `json:"salt"`
		} `json:"clients"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]string{}
	found := false
	for _, c := range file.Clients {
		if c.Password == "" {
			continue
		}
		found = found || c.Username == want
		for what, enc := range map[string]string{"hash": c.Password, "salt": c.Salt} {
			out[c.Username+" password "+what] = enc
			raw, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				t.Fatalf("%s: %s's %s %q is not base64: %v", path, c.Username, what, enc, err)
			}
			for i, f := range secretForms(raw) {
				out[fmt.Sprintf("%s password %s (form %d)", c.Username, what, i)] = f
			}
		}
	}
	if !found {
		t.Fatalf("%s holds no password for %s:\n%s", path, want, data)
	}
	return out
}

// TestHTTPEndpointsExposeNoSecrets: no response of the HTTP endpoints —
// body or headers, GET or HEAD — holds a dynsec password, its stored hash
// or salt, or the TLS listener's private key; every method other than
// GET and HEAD is answered 405 and changes nothing; there is no debug
// endpoint. The node's log holds none of these secrets either.
func TestHTTPEndpointsExposeNoSecrets(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writePEM(t, dir, "server", newCA(t, "server CA").issue(t, "triad", true))
	seedData, err := os.ReadFile(mosquittoFixture)
	if err != nil {
		t.Fatal(err)
	}
	dynsecFile := filepath.Join(dir, "dynamic-security.json")
	if err := os.WriteFile(dynsecFile, seedData, 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, fmt.Sprintf("    - id: tls\n      type: tls\n      address: 127.0.0.1:%d\n      tls:\n        cert: %s\n        key: %s\n",
		freePort(t), certPath, keyPath)+
		"dynsec:\n  enabled: true\n  file: "+dynsecFile+"\n")
	n.start()

	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	password := "Pw-" + hex.EncodeToString(nonce)
	adminCtrl(t, n, "", "createClient", "secretuser", "-p", password)
	// The node rewrites the file after the change (dynsec.file).
	waitFor(t, 10*time.Second, "secretuser in "+dynsecFile, func() bool {
		data, err := os.ReadFile(dynsecFile)
		return err == nil && strings.Contains(string(data), `"secretuser"`)
	})
	// One login with the password and one failure, so that both paths
	// have run before the endpoints are read.
	if rc := connectFrom(t, "127.0.0.1", n.mqttAddr, "secret-1", "secretuser", password); rc != connAccepted {
		t.Fatalf("secretuser login: CONNACK %d", rc)
	}
	if rc := connectFrom(t, "127.0.0.1", n.mqttAddr, "secret-2", "secretuser", password+"x"); rc != connNotAuthorized {
		t.Fatalf("secretuser with a wrong password: CONNACK %d, want %d", rc, connNotAuthorized)
	}

	secrets := dynsecSecrets(t, dynsecFile, "secretuser")
	secrets["secretuser password"] = password
	secrets["admin password"] = "adminpass"
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	secrets["TLS key PEM"] = string(keyPEM)
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatalf("%s holds no PEM block", keyPath)
	}
	for i, f := range secretForms(block.Bytes) {
		secrets[fmt.Sprintf("TLS key DER (form %d)", i)] = f
	}
	for i, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			secrets[fmt.Sprintf("TLS key PEM line %d", i)] = line
		}
	}

	base := "http://" + n.httpAddr
	for _, path := range httpEndpoints {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			code, body, hdr := httpDo(t, method, base+path)
			if code == http.StatusMethodNotAllowed || code == http.StatusNotFound {
				t.Errorf("%s %s: %d, want it served", method, path, code)
			}
			var headers strings.Builder
			for k, v := range hdr {
				fmt.Fprintf(&headers, "%s: %s\n", k, strings.Join(v, ", "))
			}
			var exposed []string
			for what, s := range secrets {
				if strings.Contains(body, s) || strings.Contains(headers.String(), s) {
					exposed = append(exposed, what)
				}
			}
			if len(exposed) > 0 {
				slices.Sort(exposed)
				t.Errorf("%s %s exposes: %s", method, path, strings.Join(exposed, "; "))
			}
		}
	}

	// Nothing but GET and HEAD, and the state is the same afterwards.
	_, before, _ := httpDo(t, http.MethodGet, base+"/state/digest")
	for _, path := range httpEndpoints {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			code, _, hdr := httpDo(t, method, base+path)
			if code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, code)
			}
			if allow := hdr.Get("Allow"); !strings.Contains(allow, http.MethodGet) || strings.Contains(allow, method) {
				t.Errorf("%s %s: Allow %q, want GET and not %s", method, path, allow, method)
			}
		}
	}
	if _, after, _ := httpDo(t, http.MethodGet, base+"/state/digest"); after != before {
		t.Errorf("the state changed during the non-GET requests:\nbefore %s\nafter  %s", before, after)
	}

	for _, path := range []string{"/debug/pprof/", "/debug/vars", "/config", "/dynsec", "/state"} {
		if code, _, _ := httpDo(t, http.MethodGet, base+path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404 (no such endpoint)", path, code)
		}
	}

	// Nor does the node's log, at debug level, after all of the above.
	out := n.output()
	var logged []string
	for what, s := range secrets {
		if strings.Contains(out, s) {
			logged = append(logged, what)
		}
	}
	if len(logged) > 0 {
		slices.Sort(logged)
		t.Errorf("the node's log holds: %s", strings.Join(logged, "; "))
	}
}
