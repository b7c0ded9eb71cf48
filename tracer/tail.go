package tracer

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Keeping what matters: with the judge on, the head sampler's "drop"
// becomes "record, don't sample" (recordAllSampler), so every span reaches
// the span pipeline and the judge sees all traffic. What the sampler
// sampled is exported as before. A span it did not sample waits in the
// tail buffer until its local root ends: if a span of that local trace
// failed or was anomalous, the whole local trace is exported (with the
// sampled flag set on the exported spans); otherwise it is discarded. The
// traceparent propagated downstream carries the head sampler's decision,
// unchanged, so downstream services sample consistently; a downstream
// service running verdict keeps its own part of a failing trace the same
// way. With the default sampler (parent-based, always on) local roots are
// sampled and nothing waits, except under a remote parent that was not
// sampled.

// recordAllSampler turns the inner sampler's Drop into RecordOnly.
type recordAllSampler struct{ inner sdktrace.Sampler }

func (r recordAllSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	res := r.inner.ShouldSample(p)
	if res.Decision == sdktrace.Drop {
		res.Decision = sdktrace.RecordOnly
	}
	return res
}

func (r recordAllSampler) Description() string { return r.inner.Description() }

const (
	tailShards       = 16
	tailTraceSlots   = 128 // local traces per shard
	tailDecisionSize = 256 // remembered decisions per shard
	tailMaxAge       = 60  // seconds a local trace may wait for its root
	defaultTailSpans = 4096
)

// tailBuffer holds the unsampled spans of open local traces. It is bounded
// (spans and traces); what does not fit is dropped and counted.
type tailBuffer struct {
	shards  [tailShards]tailShard
	pending atomic.Int64 // local traces with buffered spans

	dropped     atomic.Uint64 // spans the buffer had no room for
	keptError   atomic.Uint64 // local traces kept for an error
	keptAnomaly atomic.Uint64 // local traces kept for an anomaly
}

type tailShard struct {
	b        *tailBuffer
	mu       sync.Mutex
	spans    []tailSpan
	free     int32 // head of the free list of spans, -1 when none
	traces   [tailTraceSlots]tailTrace
	decision [tailDecisionSize]tailDecision
}

type tailSpan struct {
	s    sdktrace.ReadOnlySpan
	next int32
}

type tailTrace struct {
	id         trace.TraceID
	head, tail int32
	since      int64 // unix seconds; 0 when free
}

type tailDecision struct {
	id   trace.TraceID
	keep bool
	set  bool
}

func newTailBuffer(spans int) *tailBuffer {
	if spans <= 0 {
		spans = defaultTailSpans
	}
	per := max(spans/tailShards, 4)
	b := &tailBuffer{}
	for i := range b.shards {
		sh := &b.shards[i]
		sh.b = b
		sh.spans = make([]tailSpan, per)
		for j := range sh.spans {
			sh.spans[j].next = int32(j + 1)
		}
		sh.spans[per-1].next = -1
		sh.free = 0
	}
	return b
}

func tailHash(id trace.TraceID) uint32 { return binary.LittleEndian.Uint32(id[8:12]) }

func (b *tailBuffer) shard(id trace.TraceID) *tailShard {
	return &b.shards[binary.LittleEndian.Uint32(id[12:16])%tailShards]
}

// add buffers an unsampled span of a local trace whose root has not ended.
// If the trace was already decided (a late child), forward is called for
// a kept trace and the span is discarded otherwise.
func (b *tailBuffer) add(s sdktrace.ReadOnlySpan, forward func(sdktrace.ReadOnlySpan)) {
	id := s.SpanContext().TraceID()
	sh := b.shard(id)
	h := tailHash(id)
	sh.mu.Lock()
	if d := &sh.decision[h%tailDecisionSize]; d.set && d.id == id {
		keep := d.keep
		sh.mu.Unlock()
		if keep {
			forward(s)
		}
		return
	}
	tr := sh.find(id, h, true)
	if tr == nil || sh.free < 0 {
		sh.mu.Unlock()
		b.dropped.Add(1)
		return
	}
	i := sh.free
	sh.free = sh.spans[i].next
	sh.spans[i] = tailSpan{s: s, next: -1}
	if tr.head < 0 {
		tr.head = i
	} else {
		sh.spans[tr.tail].next = i
	}
	tr.tail = i
	sh.mu.Unlock()
}

// find returns the trace slot of id, claiming a free one when create.
func (sh *tailShard) find(id trace.TraceID, h uint32, create bool) *tailTrace {
	start := int(h % tailTraceSlots)
	var free *tailTrace
	for k := 0; k < 16; k++ {
		tr := &sh.traces[(start+k)%tailTraceSlots]
		if tr.since != 0 && tr.id == id {
			return tr
		}
		if tr.since == 0 && free == nil {
			free = tr
		}
	}
	if !create || free == nil {
		return nil
	}
	*free = tailTrace{id: id, head: -1, tail: -1, since: time.Now().Unix()}
	sh.b.pending.Add(1)
	return free
}

// decide releases the spans buffered for the local trace id: to forward
// when keep, else discarded. Later spans of the trace follow the same
// decision while it is remembered.
func (b *tailBuffer) decide(id trace.TraceID, keep bool, forward func(sdktrace.ReadOnlySpan)) {
	sh := b.shard(id)
	h := tailHash(id)
	sh.mu.Lock()
	sh.decision[h%tailDecisionSize] = tailDecision{id: id, keep: keep, set: true}
	tr := sh.find(id, h, false)
	if tr == nil {
		sh.mu.Unlock()
		return
	}
	for i := tr.head; i >= 0; {
		sp := &sh.spans[i]
		next := sp.next
		if keep {
			forward(sp.s)
		}
		sp.s = nil
		sp.next = sh.free
		sh.free = i
		i = next
	}
	*tr = tailTrace{}
	b.pending.Add(-1)
	sh.mu.Unlock()
}

// sweep discards local traces whose root has not ended for tailMaxAge.
func (b *tailBuffer) sweep(now time.Time) {
	limit := now.Unix() - tailMaxAge
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for j := range sh.traces {
			tr := &sh.traces[j]
			if tr.since == 0 || tr.since > limit {
				continue
			}
			for k := tr.head; k >= 0; {
				sp := &sh.spans[k]
				next := sp.next
				sp.s, sp.next, sh.free = nil, sh.free, k
				k = next
			}
			*tr = tailTrace{}
			b.pending.Add(-1)
		}
		sh.mu.Unlock()
	}
}
