package tracer

import (
	"sync"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// openSpans tracks the local roots in flight, so that a verdict can be
// added as an event to the requests it affects while they are still open.
// It is a fixed table (64 shards of 32 entries, found by the span ID): no
// allocation; a root that finds its shard full is not tracked.
type openSpans struct {
	shards    [openShards]openShard
	untracked atomic.Uint64
}

const (
	openShards = 64
	openWays   = 32
)

type openShard struct {
	mu sync.Mutex
	e  [openWays]openEntry
}

type openEntry struct {
	sid trace.SpanID
	tid trace.TraceID
	s   sdktrace.ReadWriteSpan
}

func newOpenSpans() *openSpans { return &openSpans{} }

func (o *openSpans) add(s sdktrace.ReadWriteSpan, sc trace.SpanContext) {
	sid := sc.SpanID()
	sh := &o.shards[sid[7]%openShards]
	start := int(sid[6] % openWays)
	sh.mu.Lock()
	for k := 0; k < openWays; k++ {
		e := &sh.e[(start+k)%openWays]
		if e.s == nil {
			*e = openEntry{sid: sid, tid: sc.TraceID(), s: s}
			sh.mu.Unlock()
			return
		}
	}
	sh.mu.Unlock()
	o.untracked.Add(1)
}

func (o *openSpans) remove(sc trace.SpanContext) {
	sid := sc.SpanID()
	sh := &o.shards[sid[7]%openShards]
	start := int(sid[6] % openWays)
	sh.mu.Lock()
	for k := 0; k < openWays; k++ {
		e := &sh.e[(start+k)%openWays]
		if e.s != nil && e.sid == sid {
			*e = openEntry{}
			break
		}
	}
	sh.mu.Unlock()
}

// addEvent adds an event to every open local root whose trace affected
// reports.
func (o *openSpans) addEvent(affected func(trace.TraceID) bool, name string, opts ...trace.EventOption) {
	var spans []sdktrace.ReadWriteSpan
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		for j := range sh.e {
			if e := &sh.e[j]; e.s != nil && affected(e.tid) {
				spans = append(spans, e.s)
			}
		}
		sh.mu.Unlock()
	}
	for _, s := range spans {
		s.AddEvent(name, opts...)
	}
}
