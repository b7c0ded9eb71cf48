package gcstw_test

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/probes/gcstw"
)

// Start the probe, and let the span pipeline ask it, when a span ends, how
// long the world was stopped during the span.
func ExampleNew() {
	ctx := context.Background()
	p, err := gcstw.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(ctx); err != nil {
		// Without privileges: carry on without the signal.
		fmt.Println("gcstw off:", p.Status().Reason != "")
		return
	}
	defer p.Shutdown(ctx)

	start := time.Now()
	runtime.GC() // the request's work
	end := time.Now()

	attrs := p.SpanEnd(trace.SpanContext{}, start, end, nil)
	fmt.Println(len(attrs)) // verdict.gc.pause.duration and verdict.gc.pause.count
	// (Runs only with privileges, so it has no Output check.)
}
