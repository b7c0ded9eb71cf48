//go:build linux && (amd64 || arm64)

package bpf

import "golang.org/x/sys/unix"

// maxSyscall must equal MAX_SYSCALL in sched.c.
const maxSyscall = 512

var fileSyscalls = []uintptr{
	unix.SYS_READ, unix.SYS_WRITE, unix.SYS_PREAD64, unix.SYS_PWRITE64,
	unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_PREADV, unix.SYS_PWRITEV,
	unix.SYS_PREADV2, unix.SYS_PWRITEV2, unix.SYS_OPENAT, unix.SYS_OPENAT2,
	unix.SYS_CLOSE, unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_SYNC,
	unix.SYS_SYNCFS, unix.SYS_SYNC_FILE_RANGE, unix.SYS_FALLOCATE,
	unix.SYS_FTRUNCATE, unix.SYS_TRUNCATE, unix.SYS_LSEEK, unix.SYS_FSTAT,
	unix.SYS_NEWFSTATAT, unix.SYS_STATX, unix.SYS_GETDENTS64,
	unix.SYS_MKDIRAT, unix.SYS_UNLINKAT, unix.SYS_RENAMEAT2,
	unix.SYS_COPY_FILE_RANGE, unix.SYS_SENDFILE, unix.SYS_FLOCK,
	unix.SYS_FADVISE64, unix.SYS_MMAP, unix.SYS_MSYNC,
}

var networkSyscalls = []uintptr{
	unix.SYS_SOCKET, unix.SYS_SOCKETPAIR, unix.SYS_CONNECT, unix.SYS_ACCEPT,
	unix.SYS_ACCEPT4, unix.SYS_BIND, unix.SYS_LISTEN, unix.SYS_SENDTO,
	unix.SYS_RECVFROM, unix.SYS_SENDMSG, unix.SYS_RECVMSG, unix.SYS_SENDMMSG,
	unix.SYS_RECVMMSG, unix.SYS_SHUTDOWN, unix.SYS_GETSOCKOPT,
	unix.SYS_SETSOCKOPT, unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME,
}

// syscallClasses maps each syscall number of this architecture to its class.
func syscallClasses() [maxSyscall]uint8 {
	var c [maxSyscall]uint8
	set := func(nrs []uintptr, class SyscallClass) {
		for _, nr := range nrs {
			if nr < maxSyscall {
				c[nr] = uint8(class)
			}
		}
	}
	set(fileSyscalls, SyscallFile)
	set(archFileSyscalls, SyscallFile)
	set(networkSyscalls, SyscallNetwork)
	return c
}
