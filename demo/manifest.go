package demo

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/triadmq/triad/internal/fsutil"
)

// Manifest is DIR/demo.json: what scripts and tests read to find the demo's
// nodes and the address clients use. Its JSON names are a contract. The
// demo writes it once every node has started, rewrites it once HAProxy and
// the agent run, and again when a process is restarted; it is not removed
// when the demo stops, so a pid in it may be stale.
//
// MQTT, HAProxyPID, HAProxySocket and LBAgentPID are absent while HAProxy
// is not (yet) running, and always with `triad demo --no-haproxy`: clients
// then connect to the leader's own MQTT address.
type Manifest struct {
	Cluster       string         `json:"cluster"`                  // the cluster name (etcd prefix /triad/<cluster>/)
	Mode          string         `json:"mode"`                     // cluster.mode: full or dynsec (every node serves; sessions local to each)
	DemoPID       int            `json:"demo_pid"`                 // the `triad demo` process: SIGHUP restarts stopped processes
	Etcd          []string       `json:"etcd"`                     // client URLs of the etcd members
	MQTT          string         `json:"mqtt,omitempty"`           // host:port of HAProxy's MQTT frontend: the address clients use
	HAProxyPID    int            `json:"haproxy_pid,omitempty"`    // the haproxy process, the latest one started
	HAProxySocket string         `json:"haproxy_socket,omitempty"` // absolute path of HAProxy's Runtime API socket (level admin)
	LBAgentPID    int            `json:"lbagent_pid,omitempty"`    // the triad-lbagent process, the latest one started
	AdminUser     string         `json:"admin_user"`               // the dynsec admin (mosquitto_ctrl -u)
	AdminPassword string         `json:"admin_password"`           // its password (demo only: kept in plain text in DIR/admin-password)
	Nodes         []ManifestNode `json:"nodes"`
}

// ManifestNode is one node in the manifest.
type ManifestNode struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`    // its `triad run` process, the latest one started
	MQTT   string `json:"mqtt"`   // host:port
	HTTP   string `json:"http"`   // host:port
	Config string `json:"config"` // absolute path of its triad.yaml
	Log    string `json:"log"`    // absolute path of its log
}

// WriteManifest writes m to path atomically: a reader sees the old file or
// the new one, never a part.
func WriteManifest(path string, m Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("demo: encode manifest: %w", err)
	}
	if err := fsutil.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// ReadManifest reads a manifest written by WriteManifest. A missing file
// is an error satisfying errors.Is(err, os.ErrNotExist).
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("demo: manifest %s: %w", path, err)
	}
	return &m, nil
}

// manifest builds the manifest of l with the given node pids.
func (l *Layout) manifest(demoPID int, pids map[string]int) Manifest {
	m := Manifest{Cluster: l.Cluster, Mode: l.modeName(), DemoPID: demoPID, Etcd: l.EtcdEndpoints(),
		AdminUser: AdminUser, AdminPassword: l.AdminPassword}
	for _, n := range l.Nodes {
		m.Nodes = append(m.Nodes, ManifestNode{
			Name: n.Name, PID: pids[n.Name], MQTT: n.MQTTAddr, HTTP: n.HTTPAddr,
			Config: n.ConfigPath, Log: n.LogPath,
		})
	}
	return m
}
