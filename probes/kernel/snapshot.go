package kernel

import (
	"sync"
	"time"

	"github.com/verdict-obs/verdict/bpf"
)

// Snapshot is what the kernel-time probe measured for the process: the
// kernel time of every span that ended since Start, the same per second over
// the last rate window, and what could not be measured. It is what the judge
// and user-defined rules read.
//
// The totals cover spans only: the kernel programs attribute time to a
// goroutine while it runs a sampled span, and each span's time is its own
// (a parent's excludes its children's), so nothing counts twice. A span
// counts when it ends.
//
// A Snapshot is a value: the probe never modifies one it has handed out.
type Snapshot struct {
	// Time is when the snapshot was taken; zero before Start.
	Time time.Time
	// Window is the interval the rates below were computed over: from the
	// previous rate computation to a Snapshot call at least MinRateWindow
	// later. Snapshot calls closer together return the previous rates (and
	// Window); zero until the first window closed.
	Window time.Duration

	// SyscallTracing is false with WithoutSyscallTracing: the Syscall*
	// fields then stay zero.
	SyscallTracing bool

	Spans               uint64        // spans that ended with kernel time since Start
	Syscalls            uint64        // system calls made inside them
	SyscallTime         time.Duration // time inside those system calls, of all classes
	SyscallFileTime     time.Duration // part of SyscallTime in file I/O calls
	SyscallNetworkTime  time.Duration // part of SyscallTime in socket calls
	OffCPU              time.Duration // time blocked off-CPU inside system calls
	RunQueue            time.Duration // time runnable, waiting for a CPU
	InvoluntarySwitches uint64        // preemptions of the threads running them

	// Lost counts spans and kernel events that could not be attributed
	// since Start (the same count as the verdict.kernel.events.lost
	// metric): SlotDrops + SpanDrops + ThreadDrops, see bpf.TimingStats.
	Lost        uint64
	SlotDrops   uint64 // spans of goroutines beyond WithSlots
	SpanDrops   uint64 // spans beyond the open-span table
	ThreadDrops uint64 // kernel events without per-thread state

	// Rates over Window: per second of wall-clock time. A time rate is
	// seconds per second, i.e. how many goroutines spent that time on
	// average (0.5 = half a goroutine in the kernel all the time).
	SpanRate        float64 // spans/s
	SyscallRate     float64 // system calls/s
	SyscallTimeRate float64 // s/s
	OffCPURate      float64 // s/s
	RunQueueRate    float64 // s/s
	LostRate        float64 // lost spans and events/s
}

// MinRateWindow is the shortest interval rates are computed over.
const MinRateWindow = time.Second

// snapper turns successive readings of the timing totals into Snapshots.
type snapper struct {
	mu   sync.Mutex
	base Snapshot // totals at the start of the current rate window
	last Snapshot // the latest snapshot handed out
}

// snapshot reads tm and returns the new Snapshot; tm nil (not running)
// returns the last one.
func (s *snapper) snapshot(tm *bpf.Timing, now time.Time) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tm == nil {
		return s.last
	}
	tot, st := tm.Totals(), tm.Stats()
	cur := s.last // keeps the rates of the previous window
	cur.Time = now
	cur.SyscallTracing = tm.Syscalls()
	cur.Spans = tot.Spans
	cur.Syscalls = tot.TotalSyscalls()
	cur.SyscallTime = tot.TotalSyscallTime()
	cur.SyscallFileTime = tot.SyscallTime[bpf.SyscallFile]
	cur.SyscallNetworkTime = tot.SyscallTime[bpf.SyscallNetwork]
	cur.OffCPU = tot.OffCPU
	cur.RunQueue = tot.RunQueue
	cur.InvoluntarySwitches = tot.InvoluntarySwitches
	cur.SlotDrops, cur.SpanDrops, cur.ThreadDrops = st.SlotDrops, st.SpanDrops, st.ThreadDrops
	cur.Lost = st.Lost()
	switch dt := now.Sub(s.base.Time); {
	case s.base.Time.IsZero():
		s.base = cur
	case dt >= MinRateWindow:
		sec := dt.Seconds()
		b := &s.base
		cur.Window = dt
		cur.SpanRate = float64(cur.Spans-b.Spans) / sec
		cur.SyscallRate = float64(cur.Syscalls-b.Syscalls) / sec
		cur.SyscallTimeRate = (cur.SyscallTime - b.SyscallTime).Seconds() / sec
		cur.OffCPURate = (cur.OffCPU - b.OffCPU).Seconds() / sec
		cur.RunQueueRate = (cur.RunQueue - b.RunQueue).Seconds() / sec
		cur.LostRate = float64(cur.Lost-b.Lost) / sec
		s.base = cur
	}
	s.last = cur
	return cur
}

// Snapshot returns what the probe measured so far (see [Snapshot]). Before
// Start it is the zero Snapshot; after Shutdown, the last one taken. It
// takes a few locks and makes no system call.
func (p *Probe) Snapshot() Snapshot {
	return p.snap.snapshot(p.timing.Load(), time.Now())
}
