package config

import (
	"slices"
	"testing"
)

func TestPrivilegedPorts(t *testing.T) {
	c := &Config{
		MQTT: MQTT{Listeners: []Listener{
			{Address: "0.0.0.0:1883"},
			{Address: "[::]:883"},
			{Address: ":0"},
			{Address: "127.0.0.1:1023"},
			{Address: "10.0.0.1:1024"},
		}},
		HTTP: HTTP{Address: "127.0.0.1:80"},
		Cluster: &Cluster{
			Replication: &Replication{Address: "10.0.0.1:7000"},
			Etcd: Etcd{Embedded: &EmbeddedEtcd{
				ClientURL: "http://10.0.0.1:2379",
				PeerURL:   "http://10.0.0.1:380",
			}},
		},
	}
	var got []string
	for _, p := range c.PrivilegedPorts() {
		got = append(got, p.String())
	}
	want := []string{
		"mqtt.listeners[1].address [::]:883 (port 883)",
		"mqtt.listeners[3].address 127.0.0.1:1023 (port 1023)",
		"http.address 127.0.0.1:80 (port 80)",
		"cluster.etcd.embedded.peer_url http://10.0.0.1:380 (port 380)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("PrivilegedPorts:\n got %q\nwant %q", got, want)
	}

	c = &Config{MQTT: MQTT{Listeners: []Listener{{Address: "0.0.0.0:1883"}}}, HTTP: HTTP{Address: "127.0.0.1:8080"}}
	if p := c.PrivilegedPorts(); len(p) != 0 {
		t.Errorf("unprivileged config: got %v", p)
	}
}
