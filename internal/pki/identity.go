package pki

import (
	"crypto/x509"
	"net/url"
	"regexp"
	"strings"
)

// scheme is the URI scheme of a Triad identity.
const scheme = "triad"

// nameRE is the rule for cluster and node names, as in the node config.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// IdentityURI is the URI SAN that names node of cluster on its certificate:
// triad://<cluster>/<node>.
func IdentityURI(cluster, node string) *url.URL {
	return &url.URL{Scheme: scheme, Host: cluster, Path: "/" + node}
}

// Identity returns the cluster and node named by c's triad:// URI SAN. ok is
// false if c carries none, or if it carries one that is not exactly
// triad://<cluster>/<node> with valid names, or more than one.
func Identity(c *x509.Certificate) (cluster, node string, ok bool) {
	var found *url.URL
	for _, u := range c.URIs {
		if u.Scheme != scheme {
			continue
		}
		if found != nil {
			return "", "", false // two identities: trust neither
		}
		found = u
	}
	if found == nil || !bare(found) {
		return "", "", false
	}
	node, isNode := strings.CutPrefix(found.Path, "/")
	if !isNode || !nameRE.MatchString(found.Host) || !nameRE.MatchString(node) {
		return "", "", false
	}
	return found.Host, node, true
}

// clusterURI is the URI SAN that names the cluster on its CA:
// triad://<cluster>.
func clusterURI(cluster string) *url.URL {
	return &url.URL{Scheme: scheme, Host: cluster}
}

// caCluster returns the cluster named by a CA's triad://<cluster> URI SAN.
func caCluster(c *x509.Certificate) (string, bool) {
	for _, u := range c.URIs {
		if u.Scheme == scheme && bare(u) && u.Path == "" && nameRE.MatchString(u.Host) {
			return u.Host, true
		}
	}
	return "", false
}

// bare reports whether u has nothing but a scheme, host and path: no user,
// query, fragment, escaped path or opaque part. (A port is caught by the
// name rule the callers apply to the host.)
func bare(u *url.URL) bool {
	return u.Opaque == "" && u.User == nil && u.RawPath == "" && u.RawQuery == "" && !u.ForceQuery &&
		u.Fragment == "" && u.RawFragment == ""
}
