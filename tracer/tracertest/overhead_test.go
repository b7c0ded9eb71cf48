package tracertest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/tracer/tracertest"
)

// BenchmarkPassingTest measures what tracertest adds to a test that
// passes: the same healthy test body (an instrumented SQLite pool, 20 HTTP
// requests through the middleware) as an inner test without and with
// Start, interleaved, each iteration one of each. It reports the medians
// of both wall times and of the difference within each pair (the
// helper's cost: Start, the leak checks, the last evaluation, flush,
// Shutdown and the check that nothing is left running), and of the
// process CPU time it adds (steadier than wall time on a loaded
// machine). Run with
// -benchtime=20x for the median over 20 runs:
//
//	go test -run '^$' -bench PassingTest -benchtime=20x ./tracer/tracertest/
func BenchmarkPassingTest(b *testing.B) {
	var without, with, added, cpuAdded []float64
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		f := inner(b, "without", func(tb testing.TB) { healthy(tb, context.Background()) })
		d0, cd0 := time.Since(t0), cpuTime()-c0
		t1, c1 := time.Now(), cpuTime()
		g := inner(b, "with", func(tb testing.TB) {
			tr := tracertest.Start(tb)
			healthy(tb, tr.Context())
		})
		d1, cd1 := time.Since(t1), cpuTime()-c1
		if f.Failed() || g.Failed() {
			b.Fatalf("inner test failed:\n%s\n%s\nlog:\n%s", f.errors(), g.errors(), g.logged())
		}
		without = append(without, ms(d0))
		with = append(with, ms(d1))
		added = append(added, ms(d1-d0))
		cpuAdded = append(cpuAdded, ms(cd1-cd0))
	}
	b.ReportMetric(median(without), "ms-without")
	b.ReportMetric(median(with), "ms-with")
	b.ReportMetric(median(added), "ms-added")
	b.ReportMetric(median(cpuAdded), "cpu-ms-added")
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
