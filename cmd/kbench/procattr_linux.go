//go:build linux

package main

import "syscall"

// childAttr makes the kernel kill a child (broker, JVM tool) should kbench
// itself die without running its cleanup, e.g. on SIGKILL, so no broker is
// left behind holding ports and memory.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
