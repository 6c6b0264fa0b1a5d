//go:build !linux

package demo

import "syscall"

// childAttr: elsewhere than on Linux the nodes share the demo's process
// group, so a Ctrl-C in the terminal reaches them too.
func childAttr() *syscall.SysProcAttr { return nil }
