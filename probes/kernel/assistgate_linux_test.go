//go:build linux

package kernel_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// allocSpan runs a span of d in which its goroutine allocates hard,
// keeping some of it, so that it assists the GC while a cycle marks.
func allocSpan(tr trace.Tracer, name string, d time.Duration) {
	_, span := tr.Start(context.Background(), name)
	var keep [][]byte
	for start := time.Now(); time.Since(start) < d; {
		keep = append(keep, make([]byte, 16<<10))
		if len(keep) > 512 {
			keep = keep[256:]
		}
	}
	runtime.KeepAlive(keep)
	span.End()
}

// waitAttached polls p until its assist probes are attached (want) or 6 s
// have passed (the gate reads the runtime once a second).
func waitAttached(t *testing.T, p *kernel.Probe, want bool) {
	t.Helper()
	for deadline := time.Now().Add(6 * time.Second); p.GCAssistAttached() != want; {
		if time.Now().After(deadline) {
			t.Fatalf("GCAssistAttached() = %v after 6 s, want %v", !want, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGCAssistProbesStandBy: the assist probes are attached at Start,
// detached once the runtime's assist share has stayed under the threshold
// for the hold time (a span that assists then carries no assist time),
// and attached again when assists reach it (spans then carry it).
func TestGCAssistProbesStandBy(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(5))

	// A threshold no process reaches: the probes stand by after the hold.
	p := startProbe(t, kernel.WithGCAssistThreshold(2), kernel.WithGCAssistHold(100*time.Millisecond))
	if on, why := p.GCAssist(); !on {
		t.Fatalf("GCAssist() off: %s", why)
	}
	if !p.GCAssistAttached() {
		t.Fatal("assist probes not attached after Start")
	}
	waitAttached(t, p, false)
	tr, exp := newPipeline(t, p)
	allocSpan(tr, "standing-by", 300*time.Millisecond)
	if a, ok := spanAttrs(t, exp, "standing-by")[semconv.AttrGCAssistDuration]; ok {
		t.Errorf("probes detached, yet the span has %s = %v", semconv.AttrGCAssistDuration, a.AsFloat64())
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A threshold any assist reaches: after standing by in a quiet second,
	// the probes come back with the first assists, and spans have them.
	p = startProbe(t, kernel.WithGCAssistThreshold(1e-9), kernel.WithGCAssistHold(100*time.Millisecond))
	waitAttached(t, p, false)
	var stop sync.WaitGroup
	done := make(chan struct{})
	stop.Add(1)
	go func() { // a second allocating goroutine keeps the GC cycling
		defer stop.Done()
		var keep [][]byte
		for {
			select {
			case <-done:
				runtime.KeepAlive(keep)
				return
			default:
			}
			keep = append(keep, make([]byte, 16<<10))
			if len(keep) > 512 {
				keep = keep[256:]
			}
		}
	}()
	defer func() { close(done); stop.Wait() }()
	waitAttached(t, p, true)
	tr, exp = newPipeline(t, p)
	var got float64
	for i := 0; i < 20 && got <= 0; i++ {
		exp.Reset()
		allocSpan(tr, "assisting", 200*time.Millisecond)
		got = spanAttrs(t, exp, "assisting")[semconv.AttrGCAssistDuration].AsFloat64()
	}
	if got <= 0 {
		t.Errorf("probes attached again, yet no span of 20 allocating while the GC marks has %s", semconv.AttrGCAssistDuration)
	}
	t.Logf("assist time of the last span: %v s", got)
}
