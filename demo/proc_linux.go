package demo

import "syscall"

// childAttr puts a node in its own process group, so that a Ctrl-C in the
// terminal reaches only the demo, which then stops the nodes in order; and
// asks the kernel to send the node SIGTERM should the demo die first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
