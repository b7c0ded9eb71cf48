package stage

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// spans of one request: a server root, a database child and an HTTP
// client child, with the attributes verdict's instrumentation sets.
func requestSpans(st *Stage, now time.Time) []*Span {
	tid, _ := ids()
	db := dbSpan(tid, now, 2*time.Millisecond, 100*time.Microsecond)
	cl := clientSpan(tid, now, 3*time.Millisecond,
		attribute.Float64(semconv.AttrHTTPClientPhasePrefix+"server_wait.duration", 0.002),
		attribute.Bool(semconv.AttrHTTPClientConnectionReused, true))
	root := serverSpan(tid, now.Add(time.Millisecond), 8*time.Millisecond)
	root.Extra = []attribute.KeyValue{attribute.Float64(semconv.AttrKernelSyscallDuration, 0.0003), attribute.Float64(semconv.AttrKernelRunqueueDuration, 0.0001)}
	return []*Span{db, cl, root}
}

func TestEndAllocatesNothing(t *testing.T) {
	st, c := newTestStage(t)
	now := c.now()
	spans := requestSpans(st, now)
	dst := make([]attribute.KeyValue, 0, 8)
	for _, sp := range spans { // subjects exist after the first sight
		st.Start(sp.LocalRoot)
		st.End(sp, dst[:0])
	}
	n := testing.AllocsPerRun(1000, func() {
		for _, sp := range spans {
			st.Start(sp.LocalRoot)
			st.End(sp, dst[:0])
		}
	})
	if n != 0 {
		t.Errorf("End: %v allocations per request of 3 spans, want 0", n)
	}
	// A failed span adds its cause without allocating either.
	failed := clientSpan(spans[0].SC.TraceID(), now, time.Millisecond, attribute.String(semconv.AttrErrorType, "connection_refused"))
	n = testing.AllocsPerRun(1000, func() {
		out, _ := st.End(failed, dst[:0])
		if len(out) != 2 {
			t.Fatalf("failed span attrs %v", out)
		}
	})
	if n != 0 {
		t.Errorf("End of a failed span: %v allocations, want 0", n)
	}
}

func BenchmarkEnd(b *testing.B) {
	st, c := newTestStage(b)
	spans := requestSpans(st, c.now())
	dst := make([]attribute.KeyValue, 0, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sp := spans[i%3]
		st.Start(sp.LocalRoot)
		st.End(sp, dst[:0])
	}
}
