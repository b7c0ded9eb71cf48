package nanosleep

import (
	"syscall"
	"time"
)

// Block blocks the calling thread in the nanosleep system call for d,
// resuming with the remaining time whenever a signal interrupts it, and
// returns how many times it was interrupted.
//
// The Go runtime signals threads on its own (SIGURG to preempt a goroutine,
// e.g. to scan its stack during GC); a signal that lands while the thread
// enters nanosleep makes the call return EINTR at once, before it ever
// blocked. Call it with the goroutine locked to its thread
// (runtime.LockOSThread) when the kernel must see one thread block.
func Block(d time.Duration) (interrupts int) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
			return interrupts
		}
		interrupts++
		ts = rem
	}
}
