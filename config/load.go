package config

import (
	"fmt"
)

// Load reads, strictly decodes, defaults and validates the configuration file
// at path. See Parse.
func Load(path string) (*Config, error) {
	data, err := readFileBounded(path, maxConfigFile)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse strictly decodes data (one YAML document holding a mapping), applies
// the defaults to every key the document leaves out, and validates the
// result. name is used in error messages, normally the file's path.
//
// Every error is an *Error (several are joined with errors.Join) that names
// the file, the line, the dotted key path and the offending value, e.g.
//
//	triad.yaml:7: mqtt.listeners[0].type: "udp" is not one of tcp, tls, websocket
//
// A key present in the document keeps its value even when that value is the
// zero value: "max_packet_size: 0" means the protocol maximum, and
// "max_inflight: 0" is reported as invalid rather than silently defaulted.
func Parse(data []byte, name string) (*Config, error) {
	c := &Config{}
	doc, err := DecodeStrict(data, name, configTop, c)
	if err != nil {
		return nil, err
	}
	c.applyDefaults(doc.Given)
	if err := c.Validate(); err != nil {
		return nil, doc.Locate(err)
	}
	return c, nil
}

// configTop is what the top level of a node's configuration file holds.
var configTop = TopLevel{
	Keys:    "node, cluster, mqtt, http, store, dynsec and log sections",
	Summary: "sections (node, mqtt, ...)",
}
