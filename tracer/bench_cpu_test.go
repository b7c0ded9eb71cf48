//go:build unix

package tracer

import (
	"context"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkSpanParallelCPU: spans started and ended from GOMAXPROCS
// goroutines through verdict's pipeline into a no-op exporter; cpu-ns/op is
// the process's CPU time per span, the export goroutine's included.
func BenchmarkSpanParallelCPU(b *testing.B) {
	tr := benchTracer(b, WithSpanExporter(tracetest.NewNoopExporter()))
	tracer := tr.TracerProvider().Tracer("bench")
	ctx, root := tracer.Start(context.Background(), "root")
	defer root.End()
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, s := tracer.Start(ctx, "op")
			s.End()
		}
	})
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
