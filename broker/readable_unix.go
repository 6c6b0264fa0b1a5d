//go:build unix

package broker

import (
	"errors"
	"net"
	"syscall"
)

// waitReadable waits, without reading, until conn has bytes to read (or
// is closed or fails), so that a connection takes an admission slot only
// once its client has sent something (admission.go). A conn that cannot
// say (not a syscall.Conn) returns at once.
func waitReadable(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var peekErr error
	err = rc.Read(func(fd uintptr) bool {
		// A one-byte peek: the bytes stay for the reader. The runtime
		// calls again once the descriptor is readable when this returns
		// false; bytes that arrived before the wait began are seen here,
		// as no readiness event may come for them.
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
			return false
		}
		peekErr = err // nil: bytes, or the end of the stream
		return true
	})
	if err != nil {
		return err
	}
	return peekErr
}
