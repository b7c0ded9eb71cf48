package goruntime

import (
	"runtime"
	"strings"
)

// profile analyses the concurrent goroutine profile (runtime.GoroutineProfile,
// what pprof's goroutine profile at debug=1 reads): the runtime stops the
// world twice, briefly and for a fixed time (to mark where the profile
// starts and to clean up), and records every goroutine's stack while the
// world runs. runtime.Stack(all), in contrast, keeps the world stopped
// while it formats every goroutine's stack (about 1 µs each).
//
// A profile has no wait reasons: the class is read from the stack, from
// the runtime function the goroutine parked in (runtime.gopark) and the
// one that called it (chanrecv, selectgo, semacquire, netpollblock,
// time.Sleep, gcParkAssist ...), and the reason is the name the runtime
// would print for it.
func (b *blockAnalyzer) profile(res *Blocking) {
	n, _ := runtime.GoroutineProfile(nil) // an estimate, without stopping the world
	for range 3 {
		size := min(n+n/4+16, b.maxRec)
		if cap(b.recs) < size {
			b.recs = make([]runtime.StackRecord, size)
		}
		b.recs = b.recs[:size]
		m, ok := runtime.GoroutineProfile(b.recs)
		if ok {
			res.Total = m
			for i := range b.recs[:m] {
				b.goroutine(b.recs[i].Stack(), res)
			}
			clear(b.recs[:m]) // drop the stacks until next time
			return
		}
		n = m
		if size == b.maxRec {
			break
		}
	}
	// More goroutines than the limit allows: no partial profile exists.
	res.Total, res.Truncated = n, true
}

// goroutine classifies one goroutine of the profile and counts it.
func (b *blockAnalyzer) goroutine(pcs []uintptr, res *Blocking) {
	if len(pcs) == 0 {
		return
	}
	frames := runtime.CallersFrames(pcs)
	var names [maxKeyFrames]string
	k := 0
	for {
		f, more := frames.Next()
		if k < len(names) {
			names[k] = f.Function
			k++
		}
		if !more || k == len(names) {
			break
		}
	}
	class, reason, blocked := classifyFrames(names[:k])
	if !blocked {
		return
	}
	res.Counts[class]++
	b.h.Reset()
	b.h.WriteString(reason)
	for _, fn := range names[:k] {
		b.h.WriteByte('\n')
		b.h.WriteString(fn)
	}
	b.add(b.h.Sum64(), class, []byte(reason), func() string { return strings.Join(names[:k], "\n") })
}

// classifyFrames reads what a goroutine waits for from its stack,
// innermost frame first. blocked is false for a goroutine that runs or is
// runnable (its stack does not end in the runtime's park or a system call).
func classifyFrames(fns []string) (class BlockClass, reason string, blocked bool) {
	if len(fns) == 0 {
		return 0, "", false
	}
	switch fns[0] {
	case "runtime.gopark", "runtime.goparkunlock":
	default:
		for _, fn := range fns[:min(len(fns), 4)] {
			if isSyscall(fn) {
				return BlockSyscall, "syscall", true
			}
		}
		return 0, "", false
	}
	sem := false
	for _, fn := range fns[1:min(len(fns), 8)] {
		switch fn {
		case "runtime.chanrecv", "runtime.chanrecv1", "runtime.chanrecv2":
			return BlockChannel, "chan receive", true
		case "runtime.chansend", "runtime.chansend1":
			return BlockChannel, "chan send", true
		case "runtime.selectgo", "runtime.block":
			return BlockSelect, "select", true
		case "runtime.netpollblock", "internal/poll.runtime_pollWait":
			return BlockNetwork, "IO wait", true
		case "time.Sleep":
			return BlockSleep, "sleep", true
		case "runtime.gcParkAssist", "runtime.gcAssistAlloc":
			return BlockGCAssist, "GC assist wait", true
		case "sync.(*Mutex).Lock", "sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).Lock", "internal/sync.(*Mutex).lockSlow":
			return BlockSync, "sync.Mutex.Lock", true
		case "sync.(*RWMutex).RLock":
			return BlockSync, "sync.RWMutex.RLock", true
		case "sync.(*RWMutex).Lock":
			return BlockSync, "sync.RWMutex.Lock", true
		case "sync.(*WaitGroup).Wait":
			return BlockSync, "sync.WaitGroup.Wait", true
		case "sync.(*Cond).Wait", "sync.runtime_notifyListWait":
			return BlockSync, "sync.Cond.Wait", true
		case "runtime.semacquire1", "runtime.semacquire", "sync.runtime_Semacquire", "sync.runtime_SemacquireMutex",
			"sync.runtime_SemacquireRWMutex", "sync.runtime_SemacquireRWMutexR", "sync.runtime_SemacquireWaitGroup",
			"internal/sync.runtime_SemacquireMutex":
			sem = true // a more precise caller may follow
		}
	}
	if sem {
		return BlockSync, "semacquire", true
	}
	if len(fns) > 1 {
		return BlockOther, fns[1], true
	}
	return BlockOther, fns[0], true
}

func isSyscall(fn string) bool {
	switch {
	case strings.HasPrefix(fn, "syscall."), strings.HasPrefix(fn, "internal/runtime/syscall."),
		strings.HasPrefix(fn, "golang.org/x/sys/unix."), fn == "runtime.entersyscall", fn == "runtime.entersyscallblock":
		return true
	}
	return false
}
