package tracer

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m)
}

// captureHandler is a slog.Handler that keeps every record with the
// attributes (including WithAttrs/WithGroup ones, flattened with dots).
type captureHandler struct {
	mu      *sync.Mutex
	records *[]map[string]any
	prefix  string
	attrs   map[string]any
}

func newCapture() *captureHandler {
	return &captureHandler{mu: &sync.Mutex{}, records: &[]map[string]any{}, attrs: map[string]any{}}
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	for k, v := range h.attrs {
		m[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		m[h.prefix+a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, m)
	h.mu.Unlock()
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = map[string]any{}
	for k, v := range h.attrs {
		n.attrs[k] = v
	}
	for _, a := range as {
		n.attrs[h.prefix+a.Key] = a.Value.Resolve().Any()
	}
	return &n
}

func (h *captureHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func (h *captureHandler) all() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), *h.records...)
}

// memLogExporter is an sdklog.Exporter that keeps what it is given.
type memLogExporter struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (e *memLogExporter) Export(_ context.Context, rs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rs {
		e.records = append(e.records, r.Clone())
	}
	return nil
}

func (e *memLogExporter) Shutdown(context.Context) error   { return nil }
func (e *memLogExporter) ForceFlush(context.Context) error { return nil }

func (e *memLogExporter) all() []sdklog.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sdklog.Record(nil), e.records...)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// quiet silences the console and turns the built-in probes and the judge
// off, so tests see exactly the spans and attributes they make
// (builtin_test.go tests the probes, verdict_test.go the judge).
func quiet() Option {
	return joinOptions(WithConsoleFormat(ConsoleNone), WithEBPF(EBPFOff), WithoutRuntimeProbe(), WithoutJudge())
}

func shutdown(t testing.TB, tr *Tracer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

type discardLogExporter struct{}

func (discardLogExporter) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogExporter) Shutdown(context.Context) error                { return nil }
func (discardLogExporter) ForceFlush(context.Context) error              { return nil }

// joinOptions bundles options into one, applied in order.
func joinOptions(opts ...Option) Option {
	return optionFunc(func(c config) config {
		for _, o := range opts {
			if o != nil {
				c = o.apply(c)
			}
		}
		return c
	})
}
