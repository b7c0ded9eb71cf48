package bpf

import "golang.org/x/sys/unix"

var archFileSyscalls = []uintptr{unix.SYS_RENAMEAT}
