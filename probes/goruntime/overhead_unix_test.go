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
// allocate 64 KiB in 1 KiB objects against a 4 MiB retained set, spread over
// GOMAXPROCS goroutines. With hook set it calls SpanStart/SpanEnd around
// every request, as the tracer would.
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

// overheadRun runs the workload once and returns the process CPU time it
// took, with a probe running (and hooked into every request) when on.
func overheadRun(b *testing.B, requests int, on bool) time.Duration {
	if !on {
		c0 := processCPU()
		gcHeavyWork(requests, nil)
		return processCPU() - c0
	}
	p, err := New(WithSampleInterval(100*time.Millisecond), WithHotspots(time.Second, 10), WithBlocking(time.Second, 3))
	if err != nil {
		b.Fatal(err)
	}
	c0 := processCPU()
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	gcHeavyWork(requests, p)
	if err := p.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	return processCPU() - c0
}

// BenchmarkOverheadGCHeavy measures the process CPU time (getrusage: user +
// system, all threads, GC workers included) of a GC-heavy workload with and
// without the probe in the same run, in off/on/on/off order per iteration
// so that drift cancels, and reports the probe's overhead in percent. The
// probe runs with intervals far shorter than its defaults (samples every
// 100 ms, hotspot analysis and goroutine dump every second) and the span
// hook on every request, so the figure bounds the default configuration
// from above. Run with -benchtime=Nx (N ≥ 5: CPU time here varies by a few
// percent from run to run).
func BenchmarkOverheadGCHeavy(b *testing.B) {
	const requests = 20000
	overheadRun(b, requests, false) // warm up
	var off, on time.Duration
	var gcs uint64
	var st runtimeStats
	for b.Loop() {
		g0 := st.gcCycles()
		off += overheadRun(b, requests, false)
		on += overheadRun(b, requests, true)
		on += overheadRun(b, requests, true)
		off += overheadRun(b, requests, false)
		gcs += st.gcCycles() - g0
	}
	n := float64(2 * b.N)
	b.ReportMetric(float64(off.Microseconds())/1e3/n, "cpu-ms-off/run")
	b.ReportMetric(float64(on.Microseconds())/1e3/n, "cpu-ms-on/run")
	b.ReportMetric(float64(gcs)/(2*n), "gc-cycles/run")
	b.ReportMetric(100*float64(on-off)/float64(off), "overhead-%")
}
