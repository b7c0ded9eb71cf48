package stage

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// Subject kinds.
const (
	kindOp    = iota // local roots, by operation (span name)
	kindPeer         // HTTP/gRPC client spans, by peer
	kindQuery        // database client spans, by fingerprint
	kindPool         // database client spans, by pool
	numKinds
)

// Indices of slot.sums, per kind. Durations are nanoseconds.
const (
	// kindOp
	opGCPause = iota
	opRunq
	opOffCPU
	opSyscall
	opTimeouts
	numOpSums
)

const (
	// kindPeer
	peerDNS = iota
	peerConnect
	peerTLS
	peerServerWait
	peerDNSN
	peerConnectN
	peerTLSN
	peerServerWaitN
	peerRefused
	peerReset
	peerDNSFail
	peerTLSFail
	peerTimeouts
	peerUnavailable
	peerServerErr
	numPeerSums
)

const (
	// kindPool (the sketch holds the pool wait)
	poolWait = iota
	poolNested
	numPoolSums
)

var numSums = [numKinds]int{kindOp: numOpSums, kindPeer: numPeerSums, kindQuery: 0, kindPool: numPoolSums}

// slot is one tick's aggregate of a subject, written with atomics by span
// ends and read by the tick.
type slot struct {
	tick      atomic.Int64 // the tick this slot holds; writes to another tick are dropped
	count     atomic.Int64
	errors    atomic.Int64
	anomalies atomic.Int64
	dur       atomic.Int64 // ns
	sk        atomicSketch
	sums      []atomic.Int64
	// The slowest span of the tick: its duration (atomic, checked by
	// every span) and its identity (written under the subject's mutex,
	// by the few spans that raise the maximum).
	maxDur atomic.Int64
	maxEx  judge.Exemplar
}

// agg is a plain aggregate of slots (window or baseline).
type agg struct {
	slots     int
	count     int64
	errors    int64
	anomalies int64
	dur       int64
	sk        sketch
	sums      []int64
}

func (a *agg) addSlot(s *slot) {
	a.slots++
	a.count += s.count.Load()
	a.errors += s.errors.Load()
	a.anomalies += s.anomalies.Load()
	a.dur += s.dur.Load()
	a.sk.addAtomic(&s.sk)
	for i := range s.sums {
		a.sums[i] += s.sums[i].Load()
	}
}

func (a *agg) merge(o *agg) {
	a.slots += o.slots
	a.count += o.count
	a.errors += o.errors
	a.anomalies += o.anomalies
	a.dur += o.dur
	a.sk.merge(&o.sk)
	for i := range o.sums {
		a.sums[i] += o.sums[i]
	}
}

func (a *agg) reset() {
	sums := a.sums
	clear(sums)
	*a = agg{sums: sums}
}

func newAgg(kind int) agg { return agg{sums: make([]int64, numSums[kind])} }

// subject is one operation, peer, query or pool.
type subject struct {
	id    uint32
	kind  int
	name  string // operation, peer address, fingerprint, pool name
	proto string // peers: "http" or "grpc"
	// queries
	summary, system, pool string
	other                 bool // the overflow subject
	// alias is the name of the pool's own statistics when the spans'
	// name for the pool differs (pools).
	alias atomic.Pointer[string]
	// named: the spans name the pool (db.client.connection.pool.name), so
	// its statistics are the reading of that name only (pools).
	named bool

	slots []slot

	// Baseline: two generations of absorbed slots (tick goroutine only).
	gens     [2]agg
	genStart int64 // tick the current generation started
	skipped  int   // consecutive slots kept out of the baseline

	// Read on the span path, written by the tick.
	p99ns atomic.Int64 // baseline P99 once it has enough samples, else 0
	trend atomic.Bool  // latency climbing

	mu      sync.Mutex // exemplars, lastErr, nested
	ex      [4]judge.Exemplar
	exTick  [4]int64
	exN     int
	lastErr string
	nested  [4]judge.Exemplar
	nestedN int
	nestOps [4]string
}

func newSubject(kind int, nslots int) *subject {
	s := &subject{kind: kind, slots: make([]slot, nslots)}
	n := numSums[kind]
	for i := range s.slots {
		s.slots[i].tick.Store(-1)
		if n > 0 {
			s.slots[i].sums = make([]atomic.Int64, n)
		}
	}
	s.gens[0], s.gens[1] = newAgg(kind), newAgg(kind)
	return s
}

// slotFor returns the slot of tick, or nil when the ring does not hold it
// (the span ended too far in the past or future).
func (s *subject) slotFor(tick int64) *slot {
	sl := &s.slots[int(uint64(tick)%uint64(len(s.slots)))]
	if sl.tick.Load() != tick {
		return nil
	}
	return sl
}

// exemplar records a span that showed a problem.
func (s *subject) exemplar(e judge.Exemplar, errType string, tick int64) {
	s.mu.Lock()
	s.ex[s.exN%len(s.ex)] = e
	s.exTick[s.exN%len(s.ex)] = tick
	s.exN++
	if errType != "" {
		s.lastErr = errType
	}
	s.mu.Unlock()
}

// exemplars returns the recorded exemplars of failed or anomalous spans,
// most recent first, then the slowest spans of the ticks [from, to) not
// already among them, slowest first (at most 4 in all).
func (s *subject) exemplars(from, to int64) ([]judge.Exemplar, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []judge.Exemplar
	for i := 1; i <= min(s.exN, len(s.ex)); i++ {
		j := (s.exN - i) % len(s.ex)
		if s.exTick[j] >= from {
			out = append(out, s.ex[j])
		}
	}
	type slow struct {
		d  int64
		ex judge.Exemplar
	}
	var best [2]slow
	for t := from; t < to; t++ {
		sl := &s.slots[int(uint64(t)%uint64(len(s.slots)))]
		if sl.tick.Load() != t {
			continue
		}
		d := sl.maxDur.Load()
		switch {
		case d > best[0].d:
			best[1], best[0] = best[0], slow{d, sl.maxEx}
		case d > best[1].d:
			best[1] = slow{d, sl.maxEx}
		}
	}
	for _, b := range best {
		if b.d > 0 && len(out) < 4 && !slices.Contains(out, b.ex) {
			out = append(out, b.ex)
		}
	}
	if len(out) > 4 {
		out = out[:4]
	}
	return out, s.lastErr
}

// slowest records ex as the slowest span of sl when it is.
func (s *subject) slowest(sl *slot, durNs int64, ex judge.Exemplar) {
	if durNs <= sl.maxDur.Load() {
		return
	}
	s.mu.Lock()
	if durNs > sl.maxDur.Load() {
		sl.maxDur.Store(durNs)
		sl.maxEx = ex
	}
	s.mu.Unlock()
}

func ring(buf []judge.Exemplar, n int) []judge.Exemplar {
	k := min(n, len(buf))
	out := make([]judge.Exemplar, 0, k)
	for i := 1; i <= k; i++ {
		out = append(out, buf[(n-i)%len(buf)])
	}
	return out
}
