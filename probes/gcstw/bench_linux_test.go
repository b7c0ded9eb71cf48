//go:build linux

package gcstw

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// BenchmarkHTTPRequest is the regression benchmark for the probe's cost per
// request: real HTTP requests over loopback, in process, to a handler that
// runs the span hook the way the tracer does (SpanStart, SpanEnd with the
// request's times), without the probe ("none": SpanEnd of a probe never
// started returns at once) and with it ("gcstw": uprobes attached, draining
// on the default timer). The requests allocate, so the GC runs and the
// uprobes fire during the loop.
//
// Shutdown is timed apart ("shutdown-ms"): it is a one-time cost, dominated
// by the kernel's RCU grace period when the uprobes are detached, and must
// not be divided among the requests. (A benchmark that runs a deferred
// Shutdown inside the timed region bills it to b.N requests: with 3000
// requests, the ~200 ms Close of two perf-event uprobes read as +67 µs, a
// 3.3x "slowdown" per request.)
func BenchmarkHTTPRequest(b *testing.B) {
	for _, bc := range []struct {
		name  string
		start bool
	}{{"none", false}, {"gcstw", true}} {
		b.Run(bc.name, func(b *testing.B) {
			p := mustNew(b)
			if bc.start {
				testutil.RequirePrivilege(b, p.Start(context.Background()))
			}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				var sc trace.SpanContext
				p.SpanStart(sc, start)
				io.WriteString(w, "ok")
				var buf [2]attribute.KeyValue
				_ = p.SpanEnd(sc, start, time.Now(), buf[:0])
			})
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := srv.Client()
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if bc.start {
				b.ReportMetric(float64(p.Snapshot().Pauses), "pauses")
			}
			t0 := time.Now()
			if err := p.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(t0).Microseconds())/1e3, "shutdown-ms")
		})
	}
}

// BenchmarkStartShutdown measures one Start and Shutdown of the probe: load,
// attach, detach, release. Detaching waits for RCU grace periods in the
// kernel; with both uprobes on one uprobe_multi link it waits once. Each
// iteration takes tens of milliseconds: run it with -benchtime=20x.
func BenchmarkStartShutdown(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		p := mustNew(b)
		testutil.RequirePrivilege(b, p.Start(ctx))
		if err := p.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
