package ebpf_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/nanosleep"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// As root, both parts start; the composite hands them out and its hook
// gives a span its kernel time and the stop-the-world pauses inside it.
func TestStartBothParts(t *testing.T) {
	p, err := ebpf.New(ebpf.WithKernelOptions(kernel.WithSlots(64)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = p.Start(ctx)
	testutil.RequirePrivilege(t, err)
	defer p.Shutdown(ctx)
	if st := p.Status(); st.State != probes.StateOn {
		t.Fatalf("status %v", st)
	}
	if p.Kernel() == nil || p.STW() == nil {
		t.Fatalf("parts not handed out: kernel %v, stw %v", p.Kernel(), p.STW())
	}
	h := p.SpanHook()
	if h == nil {
		t.Fatal("no span hook with both parts on")
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	start := time.Now()
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		h.SpanStart(sc, start)
		nanosleep.Block(20 * time.Millisecond)
		runtime.GC()
	}()
	got := map[string]bool{}
	for _, kv := range h.SpanEnd(sc, start, time.Now(), nil) {
		got[string(kv.Key)] = true
	}
	if !got[semconv.AttrKernelOffCPUDuration] {
		t.Errorf("span lacks %s: %v", semconv.AttrKernelOffCPUDuration, got)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Kernel() != nil || p.STW() != nil {
		t.Error("parts handed out after Shutdown")
	}
	if err := p.Start(ctx); !errors.Is(err, probes.ErrShutDown) {
		t.Errorf("Start after Shutdown = %v", err)
	}
}
