package sockspan

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/netspan"
)

// table keeps the records of open spans, found by span ID when they end.
// Records live in one array (no allocation per span); a free list and hash
// chains link them by index.
type table struct {
	mu      sync.Mutex
	recs    []netspan.Record
	next    []int32 // hash chain, or free list
	id      []trace.SpanID
	buckets []int32
	free    int32
	inUse   atomic.Int32 // records in use: SpanEnd skips the lock while 0
}

func newTable(n int) *table {
	b := 1
	for b < n {
		b <<= 1
	}
	t := &table{recs: make([]netspan.Record, n), next: make([]int32, n), id: make([]trace.SpanID, n), buckets: make([]int32, b)}
	for i := range t.buckets {
		t.buckets[i] = -1
	}
	for i := range t.next {
		t.next[i] = int32(i + 1)
	}
	t.next[n-1] = -1
	return t
}

func bucketOf(id trace.SpanID, n int) int {
	v := uint64(id[0]) | uint64(id[1])<<8 | uint64(id[2])<<16 | uint64(id[3])<<24 |
		uint64(id[4])<<32 | uint64(id[5])<<40 | uint64(id[6])<<48 | uint64(id[7])<<56
	return int((v * 0x9E3779B97F4A7C15) >> 32 & uint64(n-1))
}

// open takes a free record for span id; nil when none is free.
func (t *table) open(id trace.SpanID) *netspan.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.free
	if i < 0 {
		return nil
	}
	t.free = t.next[i]
	b := bucketOf(id, len(t.buckets))
	t.id[i] = id
	t.next[i] = t.buckets[b]
	t.buckets[b] = i
	t.inUse.Add(1)
	return &t.recs[i]
}

// take unlinks the record of span id and returns its index; -1 when it has
// none. The caller releases it.
func (t *table) take(id trace.SpanID) int32 {
	if t.inUse.Load() == 0 {
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := bucketOf(id, len(t.buckets))
	prev := int32(-1)
	for i := t.buckets[b]; i >= 0; i = t.next[i] {
		if t.id[i] == id {
			if prev >= 0 {
				t.next[prev] = t.next[i]
			} else {
				t.buckets[b] = t.next[i]
			}
			t.next[i] = -1
			return i
		}
		prev = i
	}
	return -1
}

// release returns a taken record to the free list.
func (t *table) release(i int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.id[i] = trace.SpanID{}
	t.next[i] = t.free
	t.free = i
	t.inUse.Add(-1)
}
