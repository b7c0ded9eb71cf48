package bpf

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// SyscallClass groups system calls by what they touch.
type SyscallClass int

const (
	// SyscallOther is every system call that is neither file nor network.
	SyscallOther SyscallClass = iota
	// SyscallFile is file I/O by number (read, write, openat, fsync, ...).
	// read/write/readv/writev on a socket count here too: the class is
	// decided by the syscall number alone.
	SyscallFile
	// SyscallNetwork is socket-specific calls (connect, accept4, sendto,
	// recvfrom, sendmsg, ...).
	SyscallNetwork
	// NumSyscallClasses is the number of classes.
	NumSyscallClasses
)

func (c SyscallClass) String() string {
	switch c {
	case SyscallOther:
		return "other"
	case SyscallFile:
		return "file"
	case SyscallNetwork:
		return "network"
	default:
		return "unknown"
	}
}

// Counters is the kernel time attributed to one span: what the kernel saw
// while the span was the innermost open span of the goroutine that started
// it.
type Counters struct {
	// Syscalls counts completed system calls by class.
	Syscalls [NumSyscallClasses]uint64
	// SyscallTime is the time from entry to exit of those system calls,
	// including time blocked or waiting for a CPU inside them.
	SyscallTime [NumSyscallClasses]time.Duration
	// OffCPU is the time the thread was blocked (not runnable) inside a
	// system call made by the goroutine, until it was woken up.
	OffCPU time.Duration
	// RunQueue is the time the thread was runnable but not running while it
	// ran the goroutine: after a preemption, or after a wake-up from a
	// blocking system call until it got a CPU again.
	RunQueue time.Duration
	// InvoluntarySwitches counts switches away from the thread while it ran
	// the goroutine and was still runnable (preempted), as the kernel counts
	// nivcsw.
	InvoluntarySwitches uint64
	// GCAssist is the time the goroutine spent in the GC's assists
	// (runtime.gcAssistAlloc, from entry to return, parked waits for
	// credit included) and GCAssists how many returned; zero unless the
	// assist probes are attached (package bpf/gcassist).
	GCAssist  time.Duration
	GCAssists uint64
}

// TotalSyscalls is the number of system calls of all classes.
func (c Counters) TotalSyscalls() uint64 {
	var n uint64
	for _, v := range c.Syscalls {
		n += v
	}
	return n
}

// TotalSyscallTime is the time in system calls of all classes.
func (c Counters) TotalSyscallTime() time.Duration {
	var d time.Duration
	for _, v := range c.SyscallTime {
		d += v
	}
	return d
}

// TimingStats counts what could not be measured.
type TimingStats struct {
	// SlotDrops counts spans that got no kernel time because every slot
	// their goroutine key may use was taken (too many goroutines with open
	// spans at once, see [TimingOptions.Slots]).
	SlotDrops uint64
	// SpanDrops counts spans that got no kernel time because too many spans
	// were open at once (see [TimingOptions.Spans]).
	SpanDrops uint64
	// ThreadDrops counts kernel events lost because the per-thread state
	// table was full.
	ThreadDrops uint64
}

// Lost is the sum of all drops.
func (s TimingStats) Lost() uint64 { return s.SlotDrops + s.SpanDrops + s.ThreadDrops }

// TimingTotals is the kernel time of every span that ended since
// [LoadTiming] returned: the sum of what [Timing.End] returned. Nested spans
// do not count twice (a parent's counters exclude its children's time), so
// the totals are the process's kernel time inside measured spans.
type TimingTotals struct {
	// Spans is the number of spans that ended with kernel time.
	Spans uint64
	// Counters is the sum of their counters.
	Counters
}

// TimingOptions configures [LoadTiming]. A nil *TimingOptions means defaults.
type TimingOptions struct {
	// Slots is the number of goroutines that may have open spans at the
	// same time; it is rounded up to a power of two. Each takes 128 bytes
	// of memory shared with the kernel. Zero means 2048 (256 KiB); at most
	// 65536.
	Slots int
	// Spans is the number of spans that may be open at the same time; each
	// takes about 180 bytes of process memory. Zero means 4 × Slots.
	Spans int
	// NoSyscalls leaves the sys_enter and sys_exit tracepoints alone: no
	// system call counts or times, off-CPU time is attributed through the
	// goroutine in TLS when the thread blocks (amd64 only), and no process
	// on the host pays for the syscall tracepoints (about 150 ns per system
	// call here).
	NoSyscalls bool
}

const (
	defaultSlots = 2048
	maxSlots     = 1 << 16 // 8 MiB shared, ~47 MB of span records
	// probeLimit is how many consecutive slots a key may occupy, starting
	// at slotHash(key). Must equal PROBE_LIMIT in sched.c.
	probeLimit = 8
)

// snapshot is a reading of one slot's counters.
type snapshot struct {
	sysCount [NumSyscallClasses]uint64
	sysNs    [NumSyscallClasses]uint64
	offcpu   uint64
	runq     uint64
	nivcsw   uint64
	assistNs uint64
	assistN  uint64
}

func (s *slot) load() (r snapshot) {
	for i := range r.sysCount {
		r.sysCount[i] = atomic.LoadUint64(&s.SysCount[i])
		r.sysNs[i] = atomic.LoadUint64(&s.SysNs[i])
	}
	r.offcpu = atomic.LoadUint64(&s.OffcpuNs)
	r.runq = atomic.LoadUint64(&s.RunqNs)
	r.nivcsw = atomic.LoadUint64(&s.Nivcsw)
	r.assistNs = atomic.LoadUint64(&s.AssistNs)
	r.assistN = atomic.LoadUint64(&s.AssistCount)
	return r
}

// add sets a += b - since (counters only grow; wrap-around is harmless).
func (a *snapshot) add(b, since *snapshot) {
	for i := range a.sysCount {
		a.sysCount[i] += b.sysCount[i] - since.sysCount[i]
		a.sysNs[i] += b.sysNs[i] - since.sysNs[i]
	}
	a.offcpu += b.offcpu - since.offcpu
	a.runq += b.runq - since.runq
	a.nivcsw += b.nivcsw - since.nivcsw
	a.assistNs += b.assistNs - since.assistNs
	a.assistN += b.assistN - since.assistN
}

func (a *snapshot) counters() Counters {
	var c Counters
	for i := range a.sysCount {
		c.Syscalls[i] = a.sysCount[i]
		c.SyscallTime[i] = time.Duration(a.sysNs[i])
	}
	c.OffCPU = time.Duration(a.offcpu)
	c.RunQueue = time.Duration(a.runq)
	c.InvoluntarySwitches = a.nivcsw
	c.GCAssist = time.Duration(a.assistNs)
	c.GCAssists = a.assistN
	return c
}

func slotHash(g uint64) uint32 { return uint32((g * 0x9E3779B97F4A7C15) >> 32) }

// record is one open span. Records of spans open on the same goroutine key
// form a stack (parent/child); the top one owns the time.
type record struct {
	spanID uint64
	slot   int32
	parent int32 // enclosing open span on the same key, or -1
	child  int32 // enclosed open span on the same key, or -1
	next   int32 // hash chain, or free list
	owner  bool
	mark   snapshot // counters when this span last became the owner
	acc    snapshot // counters accumulated while owner
	sub    snapshot // what the enclosed spans that ended owned, theirs included
}

type slotMeta struct {
	top  int32 // owning record, -1 when free
	open int32 // open spans on this key
}

// table is the user-space half of the goroutine-key protocol: it places keys
// in the shared slot array and keeps per-span bookkeeping. All access to the
// shared memory happens under mu, so Close can unmap it safely.
type table struct {
	mu      sync.Mutex
	closed  bool
	slots   []slot // shared with the kernel
	mask    uint32
	meta    []slotMeta
	recs    []record
	free    int32
	buckets []int32
	bmask   uint64
	npub    uint64  // slots holding a key
	pub     *uint64 // where the kernel reads npub (stats.Published)

	slotDrops atomic.Uint64
	spanDrops atomic.Uint64

	sum   snapshot // counters of every span that ended (guarded by mu)
	ended uint64   // spans that ended
}

func roundPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

func slotCount(opts *TimingOptions) int {
	n := defaultSlots
	if opts != nil && opts.Slots > 0 {
		n = min(opts.Slots, maxSlots)
	}
	return max(roundPow2(n), probeLimit)
}

// newTable returns a table over the shared slots; pub is where the kernel
// reads how many slots hold a key (it skips all work while none does).
func newTable(slots []slot, pub *uint64, spans int) *table {
	if spans <= 0 {
		spans = 4 * len(slots)
	}
	t := &table{
		pub:     pub,
		slots:   slots,
		mask:    uint32(len(slots) - 1),
		meta:    make([]slotMeta, len(slots)),
		recs:    make([]record, spans),
		buckets: make([]int32, roundPow2(spans)),
	}
	t.bmask = uint64(len(t.buckets) - 1)
	for i := range t.meta {
		t.meta[i].top = -1
	}
	for i := range t.buckets {
		t.buckets[i] = -1
	}
	for i := range t.recs {
		t.recs[i].next = int32(i + 1)
	}
	t.recs[len(t.recs)-1].next = -1
	return t
}

func idKey(b [8]byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// lookup returns the record index of span id, or -1; prev is the chain
// predecessor (-1 when the record heads its bucket).
func (t *table) lookup(id uint64) (idx, prev int32) {
	prev = -1
	for i := t.buckets[id&t.bmask]; i >= 0; i = t.recs[i].next {
		if t.recs[i].spanID == id {
			return i, prev
		}
		prev = i
	}
	return -1, -1
}

// begin publishes key g for span (trace, id). It reports false when the span
// will get no kernel time (table full, duplicate, closed).
func (t *table) begin(g uint64, trace [16]byte, spanID [8]byte) bool {
	id := idKey(spanID)
	if g == 0 || id == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if i, _ := t.lookup(id); i >= 0 {
		return false
	}

	// Find g's slot, or a free one in its probe window.
	h := slotHash(g)
	si, freeSlot := int32(-1), int32(-1)
	for p := uint32(0); p < probeLimit; p++ {
		k := int32((h + p) & t.mask)
		key := t.slots[k].Key
		if key == g {
			si = k
			break
		}
		if key == 0 && freeSlot < 0 {
			freeSlot = k
		}
	}
	if si < 0 && freeSlot < 0 {
		t.slotDrops.Add(1)
		return false
	}
	ri := t.free
	if ri < 0 {
		t.spanDrops.Add(1)
		return false
	}
	t.free = t.recs[ri].next

	if si < 0 {
		si = freeSlot
		t.npub++
		*t.pub = t.npub // plain stores: the kernel is the only other reader
		t.slots[si].Gen++
		// Plain stores to the shared slots throughout: the kernel is the
		// only other party, a store is visible to it within nanoseconds,
		// and an event that sees the old value for that long lands on a
		// slot whose counters nobody reads (deltas and generations make it
		// harmless). A locked XCHG would cost 5 ns per store.
		t.slots[si].Key = g // the kernel attributes from here on
	}
	s := &t.slots[si]
	m := &t.meta[si]
	now := s.load()
	r := &t.recs[ri]
	r.spanID, r.slot, r.parent, r.child, r.owner = id, si, m.top, -1, true
	r.mark, r.acc, r.sub = now, snapshot{}, snapshot{}
	if m.top >= 0 {
		top := &t.recs[m.top]
		top.acc.add(&now, &top.mark)
		top.owner = false
		top.child = ri
	}
	m.top = ri
	m.open++
	// The span identity in the slot is informational for the kernel side
	// (nothing reads it yet): plain stores, a torn read is harmless.
	s.SpanId = id
	s.TraceId[0] = idKey([8]byte(trace[:8]))
	s.TraceId[1] = idKey([8]byte(trace[8:]))

	b := &t.buckets[id&t.bmask]
	r.next = *b
	*b = ri
	return true
}

// end withdraws span id and returns the counters it owned.
func (t *table) end(spanID [8]byte) (Counters, bool) {
	own, _, ok := t.endTree(spanID)
	return own, ok
}

// endTree withdraws span id and returns the counters it owned and the
// counters of its subtree: its own plus those of every span that was
// enclosed in it on the same goroutine and ended before it. The subtree is
// added to the enclosing open span's, if any.
func (t *table) endTree(spanID [8]byte) (own, tree Counters, ok bool) {
	id := idKey(spanID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return Counters{}, Counters{}, false
	}
	ri, prev := t.lookup(id)
	if ri < 0 {
		return Counters{}, Counters{}, false
	}
	r := &t.recs[ri]
	if prev >= 0 {
		t.recs[prev].next = r.next
	} else {
		t.buckets[id&t.bmask] = r.next
	}

	s := &t.slots[r.slot]
	m := &t.meta[r.slot]
	now := s.load()
	total := r.acc
	if r.owner {
		total.add(&now, &r.mark)
	}
	sub := r.sub
	sub.add(&total, &snapshot{})
	if r.child >= 0 {
		t.recs[r.child].parent = r.parent
	}
	if r.parent >= 0 {
		t.recs[r.parent].child = r.child
		t.recs[r.parent].sub.add(&sub, &snapshot{})
	}
	if m.top == ri {
		m.top = r.parent
		if m.top >= 0 {
			top := &t.recs[m.top]
			top.owner = true
			top.mark = now
			s.SpanId = top.spanID
		}
	}
	m.open--
	if m.open == 0 {
		s.Key = 0 // the kernel stops attributing
		s.SpanId = 0
		t.npub--
		*t.pub = t.npub
	}
	r.spanID = 0
	r.next = t.free
	t.free = ri
	var zero snapshot
	t.sum.add(&total, &zero)
	t.ended++
	return total.counters(), sub.counters(), true
}

// totals returns the counters of every span that ended since the last
// resetTotals.
func (t *table) totals() TimingTotals {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TimingTotals{Spans: t.ended, Counters: t.sum.counters()}
}

// resetTotals forgets the spans that ended so far (calibration's).
func (t *table) resetTotals() {
	t.mu.Lock()
	t.sum, t.ended = snapshot{}, 0
	t.mu.Unlock()
}

// open returns the number of open spans (for tests).
func (t *table) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for i := range t.meta {
		n += int(t.meta[i].open)
	}
	return n
}

// close makes every later begin/end a no-op and waits for running ones.
func (t *table) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// The slot is 128 bytes (two cache lines) and the stats 64, as sched.c
// lays them out; the table's memory arithmetic relies on it.
var (
	_ [unsafe.Sizeof(slot{}) - 128]byte
	_ [128 - unsafe.Sizeof(slot{})]byte
	_ [unsafe.Sizeof(stats{}) - 64]byte
	_ [64 - unsafe.Sizeof(stats{})]byte
)
