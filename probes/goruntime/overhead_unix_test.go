//go:build unix

package goruntime

import (
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var gcHeavySink [4096][]byte

// gcHeavyWork is a fixed amount of GC-heavy work: "requests" that each
// allocate ~64 KiB in small objects against an 16 MiB retained set, spread
// over GOMAXPROCS goroutines. With hook set it calls SpanStart/SpanEnd
// around every request, as the tracer would.
func gcHeavyWork(requests int, hook *Probe) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := range workers {
		go func() {
			defer wg.Done()
			dst := make([]attribute.KeyValue, 0, 4)
			var sc trace.SpanContext
			for r := range requests / workers {
				start := time.Now()
				if hook != nil {
					hook.SpanStart(sc, start)
				}
				for i := range 64 {
					gcHeavySink[(w*7919+r*64+i)%len(gcHeavySink)] = make([]byte, 1024)
				}
				if hook != nil {
					dst = hook.SpanEnd(sc, start, time.Now(), dst[:0])
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkOverheadGCHeavy measures the process CPU time (getrusage) of a
// GC-heavy workload with and without the probe, alternating in the same
// run, and reports the probe's overhead in percent. The probe runs with
// intervals far shorter than its defaults (samples every 100 ms, hotspots
// and goroutine dumps every second) and the span hook on every request,
// so the figure is an upper bound for the default configuration.
// Run with -benchtime=Nx: each iteration is one off/on pair.
func BenchmarkOverheadGCHeavy(b *testing.B) {
	const requests = 40000
	gcHeavyWork(requests, nil) // warm up
	var off, on time.Duration
	var gcs uint32
	for b.Loop() {
		var ms0, ms1 runtime.MemStats // read outside the measured sections only
		runtime.ReadMemStats(&ms0)
		c0 := processCPU()
		gcHeavyWork(requests, nil)
		off += processCPU() - c0

		p, err := New(WithSampleInterval(100*time.Millisecond), WithHotspots(time.Second, 10), WithBlocking(time.Second, 3))
		if err != nil {
			b.Fatal(err)
		}
		c0 = processCPU()
		if err := p.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		gcHeavyWork(requests, p)
		if err := p.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		on += processCPU() - c0
		runtime.ReadMemStats(&ms1)
		gcs += ms1.NumGC - ms0.NumGC
	}
	n := float64(b.N)
	b.ReportMetric(float64(off.Milliseconds())/n, "cpu-ms-off/op")
	b.ReportMetric(float64(on.Milliseconds())/n, "cpu-ms-on/op")
	b.ReportMetric(float64(gcs)/n, "gc-cycles/op")
	b.ReportMetric(100*float64(on-off)/float64(off), "overhead-%")
}
