// Package pki makes the certificates of the replication stream's mutual
// TLS: one CA per cluster and, per node, one certificate that serves both
// directions of a connection (server and client authentication).
//
// A node certificate names its node in a URI SAN, triad://<cluster>/<node>
// (IdentityURI, Identity), so that a peer can tell a node of its own
// cluster from one of another cluster signed by the same CA. The CA names
// its cluster the same way, triad://<cluster>, so that Init can check a CA
// it finds in its directory before adding nodes to it.
package pki

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/triadmq/triad/internal/fsutil"
)

// Names of the files Init writes in its directory.
const (
	CAFile    = "ca.pem"     // the CA certificate: every node needs it
	CAKeyFile = "ca-key.pem" // the CA key: keep it offline
)

// CertFile is the name of node's certificate file.
func CertFile(node string) string { return node + ".pem" }

// KeyFile is the name of node's private key file.
func KeyFile(node string) string { return node + "-key.pem" }

// Default validities.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultNodeValidity = 825 * 24 * time.Hour
)

// NodeSpec is one node to make a certificate for.
type NodeSpec struct {
	Name  string   // node.name; the certificate's common name and identity
	Hosts []string // IP addresses and DNS names the node is dialled by; at least one
}

// InitOptions says what Init makes.
type InitOptions struct {
	Dir          string        // where the files go; created (0700) if missing
	Cluster      string        // cluster.name
	Nodes        []NodeSpec    // at least one
	CAValidity   time.Duration // of a new CA; 0 means DefaultCAValidity
	NodeValidity time.Duration // 0 means DefaultNodeValidity; never past the CA's expiry
	Force        bool          // overwrite existing node certificates and keys
	Now          func() time.Time
}

// Init makes a certificate and key for every node of o.Nodes, signed by
// the cluster's CA, and returns the paths it wrote, in order. Files are
// PEM: certificates 0644, keys (PKCS #8) 0600, each written atomically.
//
// If o.Dir holds a CA (ca.pem and ca-key.pem), Init signs with it, so that
// nodes can be added later; it refuses a CA whose key does not match, or
// that is of another cluster. Otherwise it makes a new CA first and writes
// it too. A node's existing certificate or key file is an error wrapping
// fs.ErrExist, before anything is written, unless o.Force; the CA is never
// replaced. A bad option is an error for which errors.Is(err,
// ErrInvalidOptions) holds. If writing fails part way, written holds the
// files already in place.
func Init(o InitOptions) (written []string, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.setDefaults()
	now := o.Now()
	ca, err := loadCA(o.Dir, o.Cluster, now)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		if err := refuseExisting(o.Dir, o.Nodes); err != nil {
			return nil, err
		}
	}
	type file struct {
		name string
		data []byte
		mode os.FileMode
	}
	var files []file
	if ca == nil {
		var p pemPair
		if ca, p, err = newCA(o.Cluster, now, o.CAValidity); err != nil {
			return nil, err
		}
		files = append(files, file{CAKeyFile, p.key, keyMode}, file{CAFile, p.cert, certMode})
	}
	for _, n := range o.Nodes {
		p, err := ca.issue(o.Cluster, n, now, o.NodeValidity)
		if err != nil {
			return nil, err
		}
		// The key goes first: a certificate on disk means its key is too.
		files = append(files, file{KeyFile(n.Name), p.key, keyMode}, file{CertFile(n.Name), p.cert, certMode})
	}
	if err := os.MkdirAll(o.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("create certificate directory: %w", err)
	}
	for _, f := range files {
		path := filepath.Join(o.Dir, f.name)
		if err := fsutil.WriteFile(path, f.data, f.mode); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, fsutil.SyncDir(o.Dir)
}

func (o *InitOptions) setDefaults() {
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.NodeValidity == 0 {
		o.NodeValidity = DefaultNodeValidity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// refuseExisting fails on the first certificate or key file of nodes that
// already exists in dir.
func refuseExisting(dir string, nodes []NodeSpec) error {
	for _, n := range nodes {
		for _, name := range []string{CertFile(n.Name), KeyFile(n.Name)} {
			path := filepath.Join(dir, name)
			found, err := exists(path)
			if err != nil {
				return err
			}
			if found {
				return fmt.Errorf("refusing to overwrite %s (node %q): %w", path, n.Name, os.ErrExist)
			}
		}
	}
	return nil
}
