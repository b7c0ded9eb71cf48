// Command stwspan is a fixture for package gcstw's tests: a real SDK
// TracerProvider whose span processor calls the gcstw hook. It runs a span
// with no GC and a span that forces garbage collections, and prints each
// span's stop-the-world attributes as one JSON line.
//
// With -loop it only collects garbage until stdin closes (the "other
// process running the same binary").
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes/gcstw"
)

type hookProcessor struct {
	hook *gcstw.Probe
	out  *json.Encoder
}

func (h hookProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	h.hook.SpanStart(s.SpanContext(), s.StartTime())
}

func (h hookProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	line := map[string]any{"name": s.Name()}
	for _, kv := range h.hook.SpanEnd(s.SpanContext(), s.StartTime(), s.EndTime(), nil) {
		line[string(kv.Key)] = kv.Value.AsInterface()
	}
	h.out.Encode(line)
}

func (hookProcessor) Shutdown(context.Context) error   { return nil }
func (hookProcessor) ForceFlush(context.Context) error { return nil }

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func main() {
	loop := flag.Bool("loop", false, "collect garbage until stdin closes")
	watch := flag.Duration("watch", 0, "with the probe on, idle this long and report windows vs own GC cycles")
	flag.Parse()
	out := json.NewEncoder(os.Stdout)

	if *loop {
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
		fmt.Println(`{"ready":true}`)
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
			}
		}
	}

	ctx := context.Background()
	probe, err := gcstw.New()
	if err != nil {
		out.Encode(map[string]any{"error": err.Error()})
		return
	}
	if err := probe.Start(ctx); err != nil {
		out.Encode(map[string]any{
			"error":         err.Error(),
			"permission":    errors.Is(err, os.ErrPermission),
			"not_supported": errors.Is(err, bpf.ErrNotSupported),
			"status":        probe.Status().String(),
		})
		return
	}
	defer probe.Shutdown(ctx)

	if *watch > 0 {
		before := gcCycles()
		fmt.Println(`{"ready":true}`)
		time.Sleep(*watch)
		runtime.GC()
		runtime.GC()
		after := gcCycles()
		st := probe.Snapshot()
		out.Encode(map[string]any{"own_gc_cycles": after - before, "windows": st.Pauses, "foreign": st.Foreign})
		return
	}

	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(hookProcessor{hook: probe, out: out}))
	defer tp.Shutdown(ctx)
	tr := tp.Tracer("stwspan")

	// Finish the GC cycle that start-up's garbage (the preflight, the line
	// table) may have begun: a span that allocates nothing while it sleeps
	// then sees no pause, whatever the machine's load.
	runtime.GC()
	_, idle := tr.Start(ctx, "no-gc")
	time.Sleep(20 * time.Millisecond)
	idle.End()

	_, gc := tr.Start(ctx, "gc")
	runtime.GC()
	runtime.GC()
	gc.End()

	out.Encode(map[string]any{"status": probe.Status().String(), "keys": []string{semconv.AttrGCPauseDuration, semconv.AttrGCPauseCount}})
}
