package goruntime

import "time"

// Snapshot is the state of the Go runtime as the probe last saw it: current
// values, rates over the last rate window, and the latest allocation-hotspot
// and goroutine-blocking analyses. It is what the judge and user-defined
// rules read.
//
// A Snapshot is a value: the probe never modifies one it has handed out.
// The slices inside Hotspots and Blocking are shared between snapshots and
// must not be modified.
type Snapshot struct {
	// Time is when the runtime metrics were read; zero before Start.
	Time time.Time
	// RateWindow is the interval the rates below were computed over.
	RateWindow time.Duration

	GCCycles    uint64 // completed GC cycles since the process started
	HeapLive    uint64 // bytes of heap marked live by the last GC
	HeapGoal    uint64 // heap size target of the current GC cycle, bytes
	Allocated   uint64 // bytes allocated on the heap since start (cumulative)
	Allocations uint64 // heap objects allocated since start (cumulative)
	GOGC        int64  // GOGC percent; -1 when off
	MemoryLimit int64  // GOMEMLIMIT bytes; math.MaxInt64 when unset
	Goroutines  uint64 // live goroutines
	GOMAXPROCS  uint64

	MemoryUsedStack uint64 // go.memory.used{go.memory.type=stack}
	MemoryUsedOther uint64 // go.memory.used{go.memory.type=other}

	HeapGrowthRate   float64       // change of HeapLive, bytes/s (negative when shrinking)
	AllocRate        float64       // heap allocation rate, bytes/s
	AllocObjectsRate float64       // heap allocation rate, objects/s
	GCCPUFraction    float64       // share of the process's CPU time spent in GC, 0..1
	MutexWait        time.Duration // cumulative time goroutines waited on sync.Mutex/RWMutex
	MutexWaitRate    float64       // mutex wait, seconds per second
	SchedLatencyP50  time.Duration // run-queue wait of goroutines, median over the window
	SchedLatencyP99  time.Duration // 99th percentile over the window

	// GC pauses of the cycles that ended in the last rate window (one
	// entry per cycle: both stop-the-world pauses of the cycle summed).
	GCPauses      int           // cycles
	GCPauseTotal  time.Duration // sum of their stop-the-world time
	GCPauseMax    time.Duration // longest cycle pause
	GCPausesTotal uint64        // cycle pauses recorded since Start
	GCPausesLost  uint64        // pauses that left the runtime's history before being recorded

	// Hotspots is the latest allocation-hotspot analysis (zero until the
	// first interval completed or when turned off).
	Hotspots Hotspots
	// Blocking is the latest goroutine-blocking analysis (zero until the
	// first analysis ran or when turned off).
	Blocking Blocking
}

// Hotspots is one allocation-hotspot analysis: the heap profile's growth
// over an interval, grouped by the function that allocated.
type Hotspots struct {
	Time     time.Time     // end of the interval
	Interval time.Duration // length of the interval
	// Sites are the top allocation sites by bytes allocated in the
	// interval, largest first.
	Sites []AllocSite
	// TotalBytesPerSecond is the allocation rate of all sites together
	// as estimated from the profile.
	TotalBytesPerSecond float64
	// Records is the number of heap-profile records examined. Truncated
	// says the profile had more records than the probe reads (8192); the
	// analysis then has no sites.
	Records   int
	Truncated bool
}

// AllocSite is one function that allocated heap memory.
type AllocSite struct {
	Function         string  // e.g. "main.decode" (innermost non-runtime frame)
	File             string  // file of the first allocation seen at this site
	Line             int     // line in File
	BytesPerSecond   float64 // estimated bytes allocated per second
	ObjectsPerSecond float64 // estimated objects allocated per second
	Bytes            int64   // estimated bytes allocated in the interval
}

// BlockClass is what a parked goroutine waits for.
type BlockClass int

// The blocking classes. Running and runnable goroutines are not blocked and
// are counted only in Blocking.Total.
const (
	BlockNetwork  BlockClass = iota // netpoller: "IO wait"
	BlockChannel                    // "chan receive", "chan send", nil channels
	BlockSelect                     // "select", "select (no cases)"
	BlockSync                       // sync.Mutex, RWMutex, WaitGroup, Cond, semacquire
	BlockSleep                      // time.Sleep
	BlockSyscall                    // in a system call
	BlockGCAssist                   // helping the GC: "GC assist wait/marking"
	BlockOther                      // any other wait reason
	NumBlockClasses
)

var blockClassNames = [NumBlockClasses]string{
	BlockNetwork:  "network",
	BlockChannel:  "channel",
	BlockSelect:   "select",
	BlockSync:     "sync",
	BlockSleep:    "sleep",
	BlockSyscall:  "syscall",
	BlockGCAssist: "gc_assist",
	BlockOther:    "other",
}

// String returns the class name used as the verdict.go.block.class
// attribute value ("network", "channel", ...).
func (c BlockClass) String() string {
	if c < 0 || c >= NumBlockClasses {
		return "unknown"
	}
	return blockClassNames[c]
}

// Blocking is one goroutine-blocking analysis.
type Blocking struct {
	Time time.Time // when the goroutine dump was taken
	// Total is the number of goroutines in the dump (running ones
	// included). Truncated says the dump hit its size cap: the goroutines
	// past it are in no count (the buffer grows for the next analysis, up
	// to the cap set with WithStackDumpLimit).
	Total     int
	Truncated bool
	// Counts is the number of parked goroutines per class.
	Counts [NumBlockClasses]int
	// Top holds, per class, the stacks most goroutines are parked on,
	// most first, at most the configured top N.
	Top [NumBlockClasses][]BlockedStack
	// Leaks are the blocking stacks flagged as goroutine-leak suspects:
	// growing over the leak window ([WithLeakDetection]), or, in an
	// analysis of [Probe.CheckLeaks], holding more goroutines than at
	// LeakBaseline.
	Leaks []BlockedStack
	// LeakBaseline is when the baseline of a [Probe.CheckLeaks] analysis
	// was taken; zero for the periodic analyses.
	LeakBaseline time.Time
}

// BlockedStack is a group of goroutines parked with the same wait reason
// on the same stack.
type BlockedStack struct {
	Class      BlockClass
	WaitReason string // as the runtime prints it, e.g. "chan receive"
	Count      int    // goroutines in the group in this analysis
	// Stack is the functions of the stack, innermost first, one per line,
	// then "created by ..." when known.
	Stack string
	// Growth is the increase of Count over the leak window, or since the
	// baseline of a leak check (leaks only).
	Growth int
}
