package bpf

import "golang.org/x/sys/unix"

var archFileSyscalls = []uintptr{
	unix.SYS_OPEN, unix.SYS_CREAT, unix.SYS_STAT, unix.SYS_LSTAT,
	unix.SYS_UNLINK, unix.SYS_RENAME, unix.SYS_RENAMEAT, unix.SYS_MKDIR,
	unix.SYS_RMDIR, unix.SYS_GETDENTS,
}
