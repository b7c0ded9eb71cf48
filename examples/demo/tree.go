package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// treePrinter is a span exporter that keeps the spans and prints each trace
// as a tree, one line per span with the attributes that matter, in the
// order the traces started.
type treePrinter struct {
	out    io.Writer
	mu     sync.Mutex
	spans  []sdktrace.ReadOnlySpan
	frozen bool
}

// Freeze makes the printer drop the spans that arrive from now on.
func (p *treePrinter) Freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func newTreePrinter(out io.Writer) *treePrinter { return &treePrinter{out: out} }

func (p *treePrinter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	p.mu.Lock()
	if !p.frozen {
		p.spans = append(p.spans, spans...)
	}
	p.mu.Unlock()
	return nil
}

func (p *treePrinter) Shutdown(context.Context) error { return nil }

// shown are the attributes printed, in this order, with short labels.
var shown = []struct{ key, label string }{
	{"http.response.status_code", "status"},
	{"error.type", "error"},
	{"db.query.text", "query"},
	{"db.client.connection.wait_time", "pool wait"},
	{"db.transaction.depth", "tx depth"},
	{"http.client.phase.dns.duration", "dns"},
	{"http.client.phase.connect.duration", "connect"},
	{"http.client.phase.request_write.duration", "write"},
	{"http.client.phase.server_wait.duration", "server wait"},
	{"http.client.phase.response_read.duration", "read"},
	{"http.client.connection.reused", "reused"},
	{"verdict.kernel.syscall.count", "syscalls"},
	{"verdict.kernel.syscall.duration", "in syscalls"},
	{"verdict.kernel.offcpu.duration", "off-CPU"},
	{"verdict.kernel.runqueue.duration", "run-queue"},
	{"verdict.gc.pause.duration", "GC pause"},
	{"verdict.gc.mark.duration", "GC marking"},
	{"verdict.gc.assist.duration", "GC assist"},
	{"verdict.unmeasured", "unmeasured"},
}

// Print writes every trace kept so far whose root started at since or
// later.
func (p *treePrinter) Print(since time.Time) {
	p.mu.Lock()
	spans := append([]sdktrace.ReadOnlySpan(nil), p.spans...)
	p.mu.Unlock()
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	inTrace := map[trace.SpanID]bool{}
	for _, s := range spans {
		inTrace[s.SpanContext().SpanID()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if parent := s.Parent(); parent.IsValid() && inTrace[parent.SpanID()] {
			children[parent.SpanID()] = append(children[parent.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(ss []sdktrace.ReadOnlySpan) {
		sort.Slice(ss, func(i, j int) bool { return ss[i].StartTime().Before(ss[j].StartTime()) })
	}
	byStart(roots)
	roots = slices.DeleteFunc(roots, func(s sdktrace.ReadOnlySpan) bool { return s.StartTime().Before(since) })
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		fmt.Fprintf(p.out, "%s%s\n", strings.Repeat("    ", depth), line(s))
		kids := children[s.SpanContext().SpanID()]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		fmt.Fprintf(p.out, "trace %s\n", r.SpanContext().TraceID())
		walk(r, 1)
	}
}

func line(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s %-28s %9s", kind(s.SpanKind()), s.Name(), ms(s.EndTime().Sub(s.StartTime())))
	set := attribute.NewSet(s.Attributes()...)
	for _, a := range shown {
		v, ok := set.Value(attribute.Key(a.key))
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(a.key, "duration") || strings.HasSuffix(a.key, "wait_time"):
			f := v.AsFloat64()
			if f == 0 {
				continue
			}
			fmt.Fprintf(&b, "  %s=%s", a.label, ms(time.Duration(f*float64(time.Second))))
		case a.key == "db.query.text":
			fmt.Fprintf(&b, "  %s=%q", a.label, v.Emit())
		case a.key == "verdict.kernel.syscall.count" && v.AsInt64() == 0:
			// The kernel saw no syscall on this span's goroutine (e.g. a
			// client span: the transport's goroutines do the I/O).
		default:
			fmt.Fprintf(&b, "  %s=%s", a.label, v.Emit())
		}
	}
	return b.String()
}

func kind(k trace.SpanKind) string {
	switch k {
	case trace.SpanKindServer:
		return "server"
	case trace.SpanKindClient:
		return "client"
	}
	return "span"
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// discardLogs is the demo's OpenTelemetry log exporter: the console shows
// the records already.
type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }
