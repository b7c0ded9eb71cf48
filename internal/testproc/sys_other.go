//go:build !unix

package testproc

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
