package goruntime

import (
	"math"
	"runtime/metrics"
	"time"
)

// Indexes into sampler.samples. The order is the order of sampleNames.
const (
	sGCCycles = iota
	sHeapLive
	sHeapGoal
	sAllocBytes
	sAllocObjects
	sGOGC
	sMemLimit
	sGoroutines
	sGOMAXPROCS
	sSchedLatencies
	sMutexWait
	sGCCPU
	sTotalCPU
	sMemTotal
	sMemReleased
	sMemHeapStacks
	numSamples
)

var sampleNames = [numSamples]string{
	sGCCycles:       "/gc/cycles/total:gc-cycles",
	sHeapLive:       "/gc/heap/live:bytes",
	sHeapGoal:       "/gc/heap/goal:bytes",
	sAllocBytes:     "/gc/heap/allocs:bytes",
	sAllocObjects:   "/gc/heap/allocs:objects",
	sGOGC:           "/gc/gogc:percent",
	sMemLimit:       "/gc/gomemlimit:bytes",
	sGoroutines:     "/sched/goroutines:goroutines",
	sGOMAXPROCS:     "/sched/gomaxprocs:threads",
	sSchedLatencies: "/sched/latencies:seconds",
	sMutexWait:      "/sync/mutex/wait/total:seconds",
	sGCCPU:          "/cpu/classes/gc/total:cpu-seconds",
	sTotalCPU:       "/cpu/classes/total:cpu-seconds",
	sMemTotal:       "/memory/classes/total:bytes",
	sMemReleased:    "/memory/classes/heap/released:bytes",
	sMemHeapStacks:  "/memory/classes/heap/stacks:bytes",
}

// newSamples returns the preallocated sample slice, read once so that the
// histogram buffers exist and later reads reuse them.
func newSamples() []metrics.Sample {
	s := make([]metrics.Sample, numSamples)
	for i := range s {
		s[i].Name = sampleNames[i]
	}
	metrics.Read(s)
	return s
}

// sampler turns successive reads of one preallocated []metrics.Sample into
// the current values and rates of a [Snapshot]. It is not safe for
// concurrent use; Probe serialises it with a mutex. update allocates nothing.
type sampler struct {
	samples []metrics.Sample

	// rate base: the values at the start of the current rate window.
	baseTime     time.Time
	baseHeapLive uint64
	baseAlloc    uint64
	baseAllocObj uint64
	baseGCCPU    float64
	baseTotalCPU float64
	baseMutex    float64
	baseSched    []uint64 // counts of the scheduler-latency histogram
	minWindow    time.Duration

	cur Snapshot
}

func newSampler(minWindow time.Duration) *sampler {
	s := &sampler{samples: newSamples(), minWindow: minWindow}
	s.baseSched = make([]uint64, len(s.samples[sSchedLatencies].Value.Float64Histogram().Counts))
	s.rebase(time.Now())
	s.fill(time.Now())
	return s
}

func (s *sampler) u64(i int) uint64 {
	v := s.samples[i].Value
	if v.Kind() != metrics.KindUint64 {
		return 0
	}
	return v.Uint64()
}

func (s *sampler) f64(i int) float64 {
	v := s.samples[i].Value
	if v.Kind() != metrics.KindFloat64 {
		return 0
	}
	return v.Float64()
}

func (s *sampler) rebase(now time.Time) {
	s.baseTime = now
	s.baseHeapLive = s.u64(sHeapLive)
	s.baseAlloc = s.u64(sAllocBytes)
	s.baseAllocObj = s.u64(sAllocObjects)
	s.baseGCCPU = s.f64(sGCCPU)
	s.baseTotalCPU = s.f64(sTotalCPU)
	s.baseMutex = s.f64(sMutexWait)
	if h := s.samples[sSchedLatencies].Value; h.Kind() == metrics.KindFloat64Histogram {
		copy(s.baseSched, h.Float64Histogram().Counts)
	}
}

// update reads the runtime and refreshes s.cur. Rates are recomputed once
// at least minWindow has passed since the previous rate computation, so
// that closely spaced reads (export plus background loop) keep stable rates.
func (s *sampler) update(now time.Time) {
	metrics.Read(s.samples)
	s.fill(now)
}

func (s *sampler) fill(now time.Time) {
	c := &s.cur
	c.Time = now
	c.GCCycles = s.u64(sGCCycles)
	c.HeapLive = s.u64(sHeapLive)
	c.HeapGoal = s.u64(sHeapGoal)
	c.Allocated = s.u64(sAllocBytes)
	c.Allocations = s.u64(sAllocObjects)
	c.GOGC = int64(s.u64(sGOGC))
	c.MemoryLimit = int64(min(s.u64(sMemLimit), math.MaxInt64))
	c.Goroutines = s.u64(sGoroutines)
	c.GOMAXPROCS = s.u64(sGOMAXPROCS)
	c.MutexWait = secondsToDuration(s.f64(sMutexWait))
	// go.memory.used per the semantic conventions: total minus released;
	// "stack" is heap memory reserved for stacks, "other" the rest.
	stacks := s.u64(sMemHeapStacks)
	used := s.u64(sMemTotal) - min(s.u64(sMemReleased), s.u64(sMemTotal))
	c.MemoryUsedStack = stacks
	c.MemoryUsedOther = used - min(stacks, used)

	dt := now.Sub(s.baseTime)
	if dt < s.minWindow || dt <= 0 {
		return
	}
	sec := dt.Seconds()
	c.RateWindow = dt
	c.HeapGrowthRate = (float64(c.HeapLive) - float64(s.baseHeapLive)) / sec
	c.AllocRate = float64(c.Allocated-min(s.baseAlloc, c.Allocated)) / sec
	c.AllocObjectsRate = float64(c.Allocations-min(s.baseAllocObj, c.Allocations)) / sec
	if dcpu := s.f64(sTotalCPU) - s.baseTotalCPU; dcpu > 0 {
		c.GCCPUFraction = max(0, min(1, (s.f64(sGCCPU)-s.baseGCCPU)/dcpu))
	}
	c.MutexWaitRate = max(0, s.f64(sMutexWait)-s.baseMutex) / sec
	if h := s.samples[sSchedLatencies].Value; h.Kind() == metrics.KindFloat64Histogram {
		hist := h.Float64Histogram()
		p50, p99 := deltaQuantiles(hist, s.baseSched)
		c.SchedLatencyP50 = secondsToDuration(p50)
		c.SchedLatencyP99 = secondsToDuration(p99)
	}
	s.rebase(now)
}

// deltaQuantiles returns the median and the 99th percentile of the
// observations the histogram received since base (cumulative counts of the
// same buckets), each as the upper bound of the bucket holding it (the lower
// bound for the last, open bucket). Both are 0 when nothing was observed.
func deltaQuantiles(h *metrics.Float64Histogram, base []uint64) (p50, p99 float64) {
	if len(base) != len(h.Counts) {
		return 0, 0
	}
	var total uint64
	for i, c := range h.Counts {
		total += c - min(base[i], c)
	}
	if total == 0 {
		return 0, 0
	}
	r50 := (total + 1) / 2
	r99 := total - total/100
	var seen uint64
	for i, c := range h.Counts {
		seen += c - min(base[i], c)
		if p50 == 0 && seen >= r50 {
			p50 = bucketValue(h, i)
		}
		if seen >= r99 {
			return p50, bucketValue(h, i)
		}
	}
	return p50, 0
}

func bucketValue(h *metrics.Float64Histogram, i int) float64 {
	if hi := h.Buckets[i+1]; !math.IsInf(hi, 1) {
		return hi
	}
	return h.Buckets[i]
}

func secondsToDuration(s float64) time.Duration {
	if s <= 0 || math.IsNaN(s) {
		return 0
	}
	if s >= math.MaxInt64/1e9 {
		return math.MaxInt64
	}
	return time.Duration(s * 1e9)
}
