package stw

import "strconv"

// Window is one stop-the-world pause.
type Window struct {
	// Start is when the runtime began stopping the world (entry of
	// stopTheWorldWithSema), End when it handed the processors back
	// (return of procresize inside startTheWorldWithSema, the moment
	// goroutines may run again); both in nanoseconds of CLOCK_MONOTONIC,
	// the clock of [MonotonicNow].
	//
	// The window includes the stopping phase (the runtime waits for every
	// running goroutine to reach a safe point: the first goroutines are
	// stopped at Start, the last just before the pause proper), as the
	// runtime's /sched/pauses/total/* metrics and the execution trace's
	// stop-the-world ranges do. It ends earlier than both: they stop their
	// clock after the runtime has woken the threads that run the
	// processors, and on a busy machine the thread that restarted the
	// world is often preempted by the threads it woke, so their end comes
	// milliseconds after goroutines are running again (measured: goroutines
	// made progress hundreds of times between End and the trace's end;
	// see TestWindowsMatchExecutionTrace). The runtime's figure for a
	// mark termination ends earlier still: it is taken before the last
	// work done with the world stopped.
	Start, End int64
	// Reason is why the runtime stopped the world.
	Reason Reason
}

// Duration is the length of the pause in nanoseconds.
func (w Window) Duration() int64 { return w.End - w.Start }

// Reason is the runtime's stwReason: why the world was stopped.
type Reason uint8

// Reasons as numbered by the Go runtime (runtime/mstats.go stwReason, stable
// since Go 1.21 because the execution tracer records them).
const (
	ReasonUnknown         Reason = 0
	ReasonGCMarkTerm      Reason = 1
	ReasonGCSweepTerm     Reason = 2
	ReasonWriteHeapDump   Reason = 3
	ReasonGoroutineProf   Reason = 4
	ReasonGoroutineProfCl Reason = 5
	ReasonAllGoroutines   Reason = 6
	ReasonReadMemStats    Reason = 7
	ReasonAllThreadsSys   Reason = 8
	ReasonGOMAXPROCS      Reason = 9
	ReasonStartTrace      Reason = 10
	ReasonStopTrace       Reason = 11
)

var reasonNames = [...]string{
	"unknown", "GC mark termination", "GC sweep termination", "write heap dump",
	"goroutine profile", "goroutine profile cleanup", "all goroutines stack trace",
	"read mem stats", "AllThreadsSyscall", "GOMAXPROCS", "start trace", "stop trace",
}

// IsGC reports whether the pause belongs to a garbage collection cycle.
func (r Reason) IsGC() bool { return r == ReasonGCMarkTerm || r == ReasonGCSweepTerm }

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Stats are the kernel-side counters.
type Stats struct {
	// Windows is the number of completed pauses seen.
	Windows uint64
	// Lost is the number of pauses dropped because the ring buffer was full.
	Lost uint64
	// Unmatched counts ends without a beginning (attached mid-pause).
	Unmatched uint64
	// Foreign counts hits from other processes; it stays 0 unless the PID
	// filter failed. It is only counted when the process runs in the
	// initial PID namespace (see Open).
	Foreign uint64
}

const (
	// Symbols probed, exported for diagnostics: the entry of SymbolStop
	// begins a window, every RET of SymbolEnd ends it. procresize runs
	// with the world stopped, once per restart (startTheWorldWithSema)
	// and once at process start-up, before any probe exists; it returns
	// the processors to run, so its return is the moment the world
	// restarts. (The return of startTheWorldWithSema comes after the
	// threads are woken, late by milliseconds under CPU contention.)
	SymbolStop = "runtime.stopTheWorldWithSema"
	SymbolEnd  = "runtime.procresize"
)
