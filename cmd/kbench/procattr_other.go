//go:build !linux

package main

import "syscall"

// childAttr has nothing to add off Linux: there is no parent-death signal.
func childAttr() *syscall.SysProcAttr { return nil }
