package pki

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// ErrInvalidOptions matches (errors.Is) every error Init returns for bad
// InitOptions, as opposed to a problem with a CA or a file.
var ErrInvalidOptions = errors.New("invalid certificate options")

// invalidError is a bad option; its message names the value.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalidOptions }

func invalidf(format string, a ...any) error { return &invalidError{fmt.Sprintf(format, a...)} }

// dnsNameRE is the rule for a host that is not an IP address: dot-separated
// labels of letters, digits, '-' and '_'.
var dnsNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

const nameRule = "1 to 63 characters from A-Z a-z 0-9 . _ -"

// validate checks o and reports every problem.
func (o *InitOptions) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, invalidf("no directory given"))
	}
	switch {
	case !nameRE.MatchString(o.Cluster):
		errs = append(errs, invalidf("%q is not a cluster name: %s", o.Cluster, nameRule))
	case strings.HasPrefix(o.Cluster, ".") || strings.HasSuffix(o.Cluster, ".") || strings.Contains(o.Cluster, ".."):
		// Go's x509 rejects such a host in a URI SAN when it parses the certificate.
		errs = append(errs, invalidf("cluster %q cannot name a certificate (the host of its triad:// URI): no leading, trailing or double dot", o.Cluster))
	}
	if o.CAValidity < 0 {
		errs = append(errs, invalidf("CA validity %v is negative", o.CAValidity))
	}
	if o.NodeValidity < 0 {
		errs = append(errs, invalidf("node validity %v is negative", o.NodeValidity))
	}
	if len(o.Nodes) == 0 {
		errs = append(errs, invalidf("no node given"))
	}
	seen := map[string]bool{}
	for _, n := range o.Nodes {
		if seen[n.Name] {
			errs = append(errs, invalidf("node %q given twice", n.Name))
		}
		seen[n.Name] = true
		errs = append(errs, validNode(n)...)
	}
	return errors.Join(errs...)
}

// validNode checks a node's name and hosts.
func validNode(n NodeSpec) []error {
	var errs []error
	switch {
	case !nameRE.MatchString(n.Name):
		errs = append(errs, invalidf("%q is not a node name: %s", n.Name, nameRule))
	case CertFile(n.Name) == CAFile || strings.HasSuffix(n.Name, "-key"):
		errs = append(errs, invalidf("node %q: its files would clash with the CA's or another node's key (%s, %s); choose another name",
			n.Name, CertFile(n.Name), KeyFile(n.Name)))
	}
	if len(n.Hosts) == 0 {
		errs = append(errs, invalidf("node %q: no host given: at least one IP address or DNS name its peers dial", n.Name))
	}
	for _, h := range n.Hosts {
		if net.ParseIP(h) == nil && (len(h) > 253 || !dnsNameRE.MatchString(h)) {
			errs = append(errs, invalidf("node %q: host %q is neither an IP address nor a DNS name", n.Name, h))
		}
	}
	return errs
}
