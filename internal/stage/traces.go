package stage

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// Components a span's time is split into. The first ones (up to
// cAccumulated) are what children add to their local root.
const (
	cPoolWait = iota
	cDBQuery
	cServerWait
	cRequestWrite
	cResponseRead
	cRPCClient
	cDNS
	cConnect
	cTLS
	cAccumulated   // children's components end here
	cKernelSyscall = iota - 1
	cKernelOffCPU
	cKernelRunq
	cGCSTW
	cSelf
	numComps
)

// Trace flags.
const (
	tfError   = 1 << iota // a span of the local trace failed
	tfAnomaly             // a span of the local trace was anomalous
)

const (
	traceBuckets = 256
	traceWays    = 8
	// traceMaxAge is how many ticks an entry whose local root never ended
	// lives (late children of a finished root, roots that never end).
	traceMaxAge = 120
)

// traceEntry accumulates the spans of one local trace until its local root
// ends.
type traceEntry struct {
	id         trace.TraceID
	tick       int64 // last touched; 0 when free
	comps      [cAccumulated]int64
	flags      uint8
	errCause   int8 // component of the first failed child, -1 none
	errShare   float32
	nestedPool *subject
	subjects   [4]uint32 // peers, pools, queries the trace touched
}

type traceBucket struct {
	n  atomic.Int32 // entries in use: lookups skip an empty bucket without the lock
	mu sync.Mutex
	e  [traceWays]traceEntry
}

// traceTable is a fixed-size table of local traces: 256 buckets of 8
// entries, found by the trace ID's random low bytes. A trace that finds
// its bucket full is not tracked (counted in full).
type traceTable struct {
	b    [traceBuckets]traceBucket
	full uint64 // guarded by nothing: a statistic, updated atomically
}

func bucketIndex(id trace.TraceID) int {
	return int(binary.LittleEndian.Uint32(id[12:16]) % traceBuckets)
}

// with runs f on the entry of id (created when create and absent) with the
// bucket locked; it reports whether an entry was found or made.
func (t *traceTable) with(id trace.TraceID, tick int64, create bool, f func(e *traceEntry)) bool {
	b := &t.b[bucketIndex(id)]
	b.mu.Lock()
	var free *traceEntry
	for i := range b.e {
		e := &b.e[i]
		if e.tick != 0 && e.id == id {
			e.tick = tick
			f(e)
			b.mu.Unlock()
			return true
		}
		if e.tick == 0 && free == nil {
			free = e
		}
	}
	if !create || free == nil {
		b.mu.Unlock()
		return false
	}
	*free = traceEntry{id: id, tick: tick, errCause: -1}
	b.n.Add(1)
	f(free)
	b.mu.Unlock()
	return true
}

// take removes the entry of id and returns a copy (ok false when absent).
func (t *traceTable) take(id trace.TraceID) (traceEntry, bool) {
	b := &t.b[bucketIndex(id)]
	if b.n.Load() == 0 {
		return traceEntry{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.e {
		e := &b.e[i]
		if e.tick != 0 && e.id == id {
			out := *e
			*e = traceEntry{}
			b.n.Add(-1)
			return out, true
		}
	}
	return traceEntry{}, false
}

// peek returns a copy of the entry of id.
func (t *traceTable) peek(id trace.TraceID) (traceEntry, bool) {
	b := &t.b[bucketIndex(id)]
	if b.n.Load() == 0 {
		return traceEntry{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.e {
		if e := &b.e[i]; e.tick != 0 && e.id == id {
			return *e, true
		}
	}
	return traceEntry{}, false
}

// sweep frees entries untouched since before tick-traceMaxAge.
func (t *traceTable) sweep(tick int64) {
	for i := range t.b {
		b := &t.b[i]
		b.mu.Lock()
		for j := range b.e {
			if e := &b.e[j]; e.tick != 0 && e.tick < tick-traceMaxAge {
				*e = traceEntry{}
				b.n.Add(-1)
			}
		}
		b.mu.Unlock()
	}
}

func (e *traceEntry) touch(id uint32) {
	for i, s := range e.subjects {
		if s == id {
			return
		}
		if s == 0 {
			e.subjects[i] = id
			return
		}
	}
}

func (e *traceEntry) has(id uint32) bool {
	for _, s := range e.subjects {
		if s == id {
			return true
		}
	}
	return false
}
