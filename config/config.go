// Package config holds Triad's YAML configuration: the typed structure, its
// defaults, strict decoding (unknown keys are errors with their line) and
// validation.
//
// Load and Parse decode the file with DecodeStrict (strict.go), which walks
// its yaml.Node tree against these types (decode.go), rejects unknown keys
// and ill-typed values and records the line of every key path; other
// programs' files (triad-lbagent's) decode with it too. Defaults are then
// applied to the keys the file leaves out (defaults.go) and Validate
// (validate.go, tls.go, proxyproto.go) reports problems by key path; Parse
// maps each path back to its line. The keys are documented in
// docs/configuration.md.
package config

import "time"

// Config is the whole of a node's configuration file.
type Config struct {
	Node    Node     `yaml:"node"`
	Cluster *Cluster `yaml:"cluster,omitempty"` // nil: a standalone node
	MQTT    MQTT     `yaml:"mqtt"`
	HTTP    HTTP     `yaml:"http"`
	Store   Store    `yaml:"store"`
	Dynsec  Dynsec   `yaml:"dynsec"`
	Log     Log      `yaml:"log"`
}

// Node identifies this node and where it keeps its state.
type Node struct {
	Name    string `yaml:"name"`     // required; [A-Za-z0-9._-], 1..63 chars
	DataDir string `yaml:"data_dir"` // required; created if missing
}

// MQTT holds the client-facing listeners and limits.
type MQTT struct {
	Listeners     []Listener    `yaml:"listeners"` // at least one
	Limits        Limits        `yaml:"limits"`
	AuthRateLimit AuthRateLimit `yaml:"auth_rate_limit"` // failed-authentication limit per source address (authlimit.go)
	Admission     Admission     `yaml:"admission"`       // new connections worked on at once (admission.go)
}

// Listener is one MQTT listening socket.
type Listener struct {
	ID      string     `yaml:"id"`            // optional; default "<type><index>", unique
	Type    string     `yaml:"type"`          // tcp | tls | websocket
	Address string     `yaml:"address"`       // host:port, required
	TLS     *TLSConfig `yaml:"tls,omitempty"` // required for tls; optional for websocket (wss); not allowed for tcp
	// ProxyProtocol: the peers whose connections may start with a PROXY
	// header (proxyproto.go); tcp and tls only. nil: no PROXY header
	// accepted.
	ProxyProtocol *ProxyProtocol `yaml:"proxy_protocol,omitempty"`
	// AllowedOrigins: the web origins whose pages may connect (origins.go);
	// websocket only. Empty: any.
	AllowedOrigins []string `yaml:"allowed_origins,omitempty"`
}

// TLSConfig names the PEM files of a TLS listener.
type TLSConfig struct {
	Cert              string `yaml:"cert"`                          // required
	Key               string `yaml:"key"`                           // required
	ClientCA          string `yaml:"client_ca"`                     // optional: verify client certificates against this CA
	RequireClientCert *bool  `yaml:"require_client_cert,omitempty"` // only with client_ca; nil = default: true when client_ca is set (see ClientCertRequired)
	MinVersion        string `yaml:"min_version"`                   // "1.2" (default) or "1.3"
}

// Limits bound what clients may use.
type Limits struct {
	MaxClients        int64    `yaml:"max_clients"`         // default 0 = unlimited
	MaxPacketSize     uint32   `yaml:"max_packet_size"`     // bytes; default 1048576; 0 = protocol maximum
	MaxInflight       uint16   `yaml:"max_inflight"`        // outbound unacked QoS 1/2 per client; default 1024
	ReceiveMaximum    uint16   `yaml:"receive_maximum"`     // inbound unacked QoS 1/2 per client; default 1024
	MaxQueuedMessages int      `yaml:"max_queued_messages"` // per session, offline queue + inflight; default 10000
	MessageExpiry     Duration `yaml:"message_expiry"`      // default 0 = messages never expire unless the publisher says so
	SessionExpiryMax  Duration `yaml:"session_expiry_max"`  // cap on a client's session expiry; default 0 = no cap
	// MaxClientWritesPending is mochi's outbound queue per connection
	// (Capabilities.MaximumClientWritesPending), allocated in full for
	// every client, connected or restored offline; default 1024.
	MaxClientWritesPending int `yaml:"max_client_writes_pending"`
}

// HTTP is the health, metrics and status endpoint.
type HTTP struct {
	Address string `yaml:"address"` // host:port; empty disables the HTTP server
}

// Store tunes the durable store's group commit.
type Store struct {
	MaxBatch    int      `yaml:"max_batch"`     // records per commit; default 4096
	MaxBatchAge Duration `yaml:"max_batch_age"` // extra wait to grow a batch; default 0 (commit as soon as the previous commit ends)
	NoSync      bool     `yaml:"no_sync"`       // skip fsync: UNSAFE, for benchmarks only; default false
}

// Dynsec is Mosquitto-compatible dynamic security: authentication and
// ACLs from a configuration replicated with the rest of the state and
// managed through the $CONTROL/dynamic-security/v1 API (mosquitto_ctrl).
type Dynsec struct {
	Enabled        bool   `yaml:"enabled"`         // false: every client may connect, publish and subscribe; default false
	AllowAnonymous bool   `yaml:"allow_anonymous"` // clients without a username may connect (anonymous group's roles); default false
	File           string `yaml:"file"`            // Mosquitto dynamic-security.json: seeds an empty cluster, then mirrors every change; default <data_dir>/dynamic-security.json
}

// Log sets the structured logger.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error; default info
	Format string `yaml:"format"` // text | json; default text
}

// Duration is a time.Duration written in YAML as "10s", "5m", "24h" or "0".
type Duration time.Duration
