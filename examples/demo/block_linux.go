package main

import (
	"syscall"
	"time"
)

// blockInKernel blocks the calling thread in a system call for d, the way a
// blocking driver or a slow disk would: the kernel sees the span off-CPU.
func blockInKernel(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	var rem syscall.Timespec
	for syscall.Nanosleep(&ts, &rem) == syscall.EINTR { // the runtime's preemption signal
		ts = rem
	}
}
