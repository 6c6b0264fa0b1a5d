package config

import (
	"fmt"
	"path/filepath"
)

// Defaults of the keys whose default is not the zero value.
const (
	DefaultMaxPacketSize     = 1 << 20 // mqtt.limits.max_packet_size, bytes
	DefaultMaxInflight       = 1024    // mqtt.limits.max_inflight
	DefaultReceiveMaximum    = 1024    // mqtt.limits.receive_maximum
	DefaultMaxQueuedMessages = 10000   // mqtt.limits.max_queued_messages
	DefaultMaxBatch          = 4096    // store.max_batch
	DefaultTLSMinVersion     = "1.2"   // mqtt.listeners[].tls.min_version
	DefaultLogLevel          = "info"  // log.level
	DefaultLogFormat         = "text"  // log.format
	// DefaultDynsecFile is dynsec.file's name under node.data_dir.
	DefaultDynsecFile = "dynamic-security.json"
)

// DefaultMaxClientWritesPending is mqtt.limits.max_client_writes_pending.
// mochi's own default, 8192, is 64 KB of heap per client, restored offline
// sessions included: most of a leader's memory, and of its garbage
// collector's work, with many sessions.
const DefaultMaxClientWritesPending = 1024

// ApplyDefaults fills in every unset field of a Config built in code, taking
// the zero value as unset:
//
//   - listener id "<type><index>", e.g. "tcp0"; tls.min_version "1.2";
//     tls.require_client_cert true when client_ca is set;
//   - limits: max_packet_size 1048576, max_inflight 1024, receive_maximum 1024,
//     max_queued_messages 10000, max_client_writes_pending 1024
//     (max_clients, message_expiry and session_expiry_max stay 0:
//     unlimited / never / no cap);
//   - auth_rate_limit: failures 10, window 60s, block 60s;
//   - admission: max_concurrent_connects 64 (max_connect_rate stays 0: no
//     limit);
//   - store.max_batch 4096 (max_batch_age stays 0);
//   - with a cluster section: lease_ttl 2s, fence_margin 500ms,
//     etcd.dial_timeout 2s and, with etcd.embedded, data_dir
//     <node.data_dir>/etcd, initial_cluster_state "new", tick 100ms,
//     election_timeout 1s;
//   - log.level "info", log.format "text".
//
// Load and Parse already apply these defaults, but only to the keys the file
// leaves out, so an explicit 0 in the file stays 0. Calling ApplyDefaults
// again on their result is harmless except that it turns an explicit
// "max_packet_size: 0" (protocol maximum) into 1048576, an explicit
// "auth_rate_limit: {failures: 0}" (no limit) into 10 and an explicit
// "admission: {max_concurrent_connects: 0}" (no limit) into 64.
func (c *Config) ApplyDefaults() {
	c.applyDefaults(func(string) bool { return false })
}

// applyDefaults sets the default of each field that is zero and for which
// given(key path) is false.
func (c *Config) applyDefaults(given func(path string) bool) {
	for i := range c.MQTT.Listeners {
		l := &c.MQTT.Listeners[i]
		if l.ID == "" {
			l.ID = fmt.Sprintf("%s%d", l.Type, i)
		}
		if l.TLS != nil {
			l.TLS.applyDefaults()
		}
	}
	lim := &c.MQTT.Limits
	setDefault(&lim.MaxPacketSize, DefaultMaxPacketSize, given("mqtt.limits.max_packet_size"))
	setDefault(&lim.MaxInflight, DefaultMaxInflight, given("mqtt.limits.max_inflight"))
	setDefault(&lim.ReceiveMaximum, DefaultReceiveMaximum, given("mqtt.limits.receive_maximum"))
	setDefault(&lim.MaxQueuedMessages, DefaultMaxQueuedMessages, given("mqtt.limits.max_queued_messages"))
	setDefault(&lim.MaxClientWritesPending, DefaultMaxClientWritesPending, given("mqtt.limits.max_client_writes_pending"))
	c.MQTT.AuthRateLimit.applyDefaults(given)
	c.MQTT.Admission.applyDefaults(given)
	setDefault(&c.Store.MaxBatch, DefaultMaxBatch, given("store.max_batch"))
	if c.Node.DataDir != "" {
		// "" is never a usable file, so it always means unset.
		setDefault(&c.Dynsec.File, filepath.Join(c.Node.DataDir, DefaultDynsecFile), false)
	}
	if c.Cluster != nil {
		c.Cluster.applyDefaults(&c.Node, given)
	}
	// An empty string is never a valid level or format, so "" always means unset.
	setDefault(&c.Log.Level, DefaultLogLevel, false)
	setDefault(&c.Log.Format, DefaultLogFormat, false)
}

func (t *TLSConfig) applyDefaults() {
	setDefault(&t.MinVersion, DefaultTLSMinVersion, false)
	if t.RequireClientCert == nil && t.ClientCA != "" {
		yes := true
		t.RequireClientCert = &yes
	}
}

// setDefault stores def in *p if *p is the zero value and was not given.
func setDefault[T comparable](p *T, def T, given bool) {
	var zero T
	if !given && *p == zero {
		*p = def
	}
}
