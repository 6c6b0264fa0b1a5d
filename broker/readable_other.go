//go:build !unix

package broker

import "net"

// waitReadable returns at once where a connection cannot be watched
// without reading it: the connection takes its admission slot before its
// first bytes.
func waitReadable(net.Conn) error { return nil }
