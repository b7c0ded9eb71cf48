package goruntime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/probes/goruntime"
)

// The tracer normally owns the probe; standalone it is started and shut
// down like any probes.Probe.
func ExampleNew() {
	p, err := goruntime.New(
		goruntime.WithHotspots(30*time.Second, 10),
		goruntime.WithBlocking(10*time.Second, 3),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Shutdown(context.Background())

	s := p.Snapshot()
	fmt.Println(p.Status(), s.Goroutines > 0, s.HeapGoal > 0)
	// Output: runtime: on true true
}

// A span pipeline calls the hook at each span's start and end; spans that
// overlapped a stop-the-world GC pause get the pause attributes.
func ExampleProbe_SpanEnd() {
	p, _ := goruntime.New(goruntime.WithHotspots(0, 0), goruntime.WithBlocking(0, 0))
	_ = p.Start(context.Background())
	defer p.Shutdown(context.Background())

	var sc trace.SpanContext
	start := time.Now()
	p.SpanStart(sc, start)
	runtime.GC()
	for _, kv := range p.SpanEnd(sc, start, time.Now(), nil) {
		fmt.Println(kv.Key)
	}
	// Output:
	// verdict.gc.pause.duration
	// verdict.gc.pause.count
}

// The judge saves the last seconds of execution trace when it fires; open
// the file with `go tool trace`.
func ExampleProbe_SaveFlightRecord() {
	p, _ := goruntime.New(goruntime.WithFlightRecorder(5*time.Second, 8<<20))
	_ = p.Start(context.Background())
	defer p.Shutdown(context.Background())

	dir, _ := os.MkdirTemp("", "verdict")
	defer os.RemoveAll(dir)
	err := p.SaveFlightRecord(filepath.Join(dir, "verdict.trace"))
	fmt.Println(err)
	// Output: <nil>
}

// Snapshot is cheap (a copy under a mutex): the judge reads it on every
// evaluation.
func ExampleProbe_Snapshot() {
	p, _ := goruntime.New()
	_ = p.Start(context.Background())
	defer p.Shutdown(context.Background())

	s := p.Snapshot()
	fmt.Println(s.GOGC, len(s.Blocking.Counts) == int(goruntime.NumBlockClasses))
	// Output: 100 true
}
