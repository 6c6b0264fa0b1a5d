package config

import (
	"fmt"
	"net/url"
	"strings"
)

// AllowedOrigins is mqtt.listeners[].allowed_origins on a websocket
// listener: the web origins (scheme://host[:port], as browsers send them
// in the Origin header) whose pages may open MQTT connections. Empty: any
// origin, and requests without an Origin header (non-browser clients) are
// always accepted.

// checkOrigins reports entries that are not origins.
func checkOrigins(errs *Errors, path string, origins []string) {
	for i, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs.Add(fmt.Sprintf("%s[%d]", path, i), "%q is not a web origin: give scheme://host[:port], such as \"https://dashboard.example.com\", or \"*\"", o)
		}
	}
}

// NormalizeOrigin lower-cases an origin for comparison (browsers send
// the scheme and host in lower case).
func NormalizeOrigin(o string) string { return strings.ToLower(strings.TrimSuffix(o, "/")) }
