package tracer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/sqlxprobe"
	_ "modernc.org/sqlite"
)

// childEnv selects a mode of the test binary run as a subprocess (see
// runChild): the unprivileged path is tested in a process with another uid.
const childEnv = "VERDICT_TRACER_TEST_CHILD"

// childModes are further child modes, by name (set by init functions).
var childModes = map[string]func() int{}

// startBuiltin starts a tracer with the built-in probes as configured by
// opts and an in-memory span exporter.
func startBuiltin(t testing.TB, opts ...Option) (*Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	base := []Option{WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithSpanExporter(exp),
		WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{})}
	tr, err := Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return tr, exp
}

func spanAttrs(t testing.TB, tr *Tracer, exp *tracetest.InMemoryExporter, name string) attribute.Set {
	t.Helper()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == name {
			return attribute.NewSet(s.Attributes()...)
		}
	}
	t.Fatalf("span %q not exported", name)
	return attribute.Set{}
}

func TestRuntimeProbeIsBuiltIn(t *testing.T) {
	tr, exp := startBuiltin(t, WithEBPF(EBPFOff))
	defer shutdown(t, tr)

	if c, ok := tr.Status().Component("runtime"); !ok || c.State != probes.StateOn {
		t.Fatalf("runtime component = %+v, %v; status:\n%s", c, ok, tr.Status())
	}
	wantEBPFOff(t, tr, "disabled by WithEBPF(EBPFOff)")
	if tr.Runtime() == nil {
		t.Fatal("Runtime() = nil with the runtime probe on")
	}
	if tr.EBPF() != nil {
		t.Error("EBPF() != nil with EBPFOff")
	}
	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "gc")
	runtime.GC()
	span.End()
	attrs := spanAttrs(t, tr, exp, "gc")
	if v, ok := attrs.Value(semconv.AttrGCPauseDuration); !ok || v.AsFloat64() <= 0 {
		t.Errorf("span around runtime.GC(): %s = %v, want > 0", semconv.AttrGCPauseDuration, v.Emit())
	}
}

func TestWithoutRuntimeProbe(t *testing.T) {
	tr, _ := startBuiltin(t, WithEBPF(EBPFOff), WithoutRuntimeProbe())
	defer shutdown(t, tr)
	if _, ok := tr.Status().Component("runtime"); ok || tr.Runtime() != nil {
		t.Errorf("runtime probe still configured:\n%s", tr.Status())
	}
}

func TestEBPFModeFromEnvironment(t *testing.T) {
	t.Setenv("VERDICT_EBPF", "off")
	tr, _ := startBuiltin(t, WithoutRuntimeProbe())
	wantEBPFOff(t, tr, "disabled by VERDICT_EBPF=off")
	shutdown(t, tr)

	// The option wins over the environment.
	t.Setenv("VERDICT_EBPF", "required")
	tr, _ = startBuiltin(t, WithoutRuntimeProbe(), WithEBPF(EBPFOff))
	wantEBPFOff(t, tr, "disabled by WithEBPF(EBPFOff)")
	shutdown(t, tr)
}

// wantEBPFOff (issue 11 point 11): with eBPF off, Status still has an ebpf
// line that says who turned it off, after Shutdown too.
func wantEBPFOff(t *testing.T, tr *Tracer, reason string) {
	t.Helper()
	want := "ebpf: off: " + reason
	c, ok := tr.Status().Component("ebpf")
	if !ok || c.String() != want {
		t.Errorf("ebpf component %q (present %v), want %q; status:\n%s", c.String(), ok, want, tr.Status())
	}
	if !strings.Contains(tr.Status().String(), "\n"+want) {
		t.Errorf("Status().String() lacks the line %q:\n%s", want, tr.Status())
	}
}

func TestEBPFModeStrings(t *testing.T) {
	for m, want := range map[EBPFMode]string{EBPFAuto: "auto", EBPFOff: "off", EBPFRequired: "required", 7: "EBPFMode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}

// childReport is what a child process prints as JSON.
type childReport struct {
	UID           int      `json:"uid"`
	AutoStartErr  string   `json:"auto_start_err"`
	EBPFState     string   `json:"ebpf_state"`
	EBPFReason    string   `json:"ebpf_reason"`
	KernelAttrs   []string `json:"kernel_attrs"`
	Spans         int      `json:"spans"`
	RequiredErr   string   `json:"required_err"`
	RequiredPerm  bool     `json:"required_perm"`
	RuntimeState  string   `json:"runtime_state"`
	StatusPrinted string   `json:"status"`
}

// runChild runs one child mode and returns the exit code.
func runChild(mode string) int {
	if f := childModes[mode]; f != nil {
		return f()
	}
	if mode != "unprivileged" {
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
		return 2
	}
	r := childReport{UID: os.Getuid()}
	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(),
		WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		r.AutoStartErr = err.Error()
	} else {
		st := tr.Status()
		r.StatusPrinted = st.String()
		if c, ok := st.Component("ebpf"); ok {
			r.EBPFState, r.EBPFReason = c.State.String(), c.Reason
		}
		if c, ok := st.Component("runtime"); ok {
			r.RuntimeState = c.State.String()
		}
		_, span := tr.TracerProvider().Tracer("child").Start(context.Background(), "served")
		span.End()
		_ = tr.ForceFlush(context.Background())
		for _, s := range exp.GetSpans().Snapshots() {
			r.Spans++
			for _, kv := range s.Attributes() {
				if strings.HasPrefix(string(kv.Key), "verdict.kernel.") || string(kv.Key) == semconv.AttrGCMarkDuration {
					r.KernelAttrs = append(r.KernelAttrs, string(kv.Key))
				}
			}
		}
		_ = tr.Shutdown(context.Background())
	}
	_, err = Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFRequired),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		r.RequiredErr = err.Error()
		r.RequiredPerm = errors.Is(err, os.ErrPermission)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 1
	}
	return 0
}

// With the runtime probe on, the readers verdict builds carry the
// go.schedule.duration histogram (OTel Go runtime semantic conventions).
func TestScheduleDurationHistogramExposed(t *testing.T) {
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
	tr, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFOff),
		WithSpanExporter(tracetest.NewNoopExporter()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	mc, _ := tr.Status().Component("metrics")
	body := scrape(t, strings.TrimPrefix(mc.Detail, "prometheus "))
	for _, want := range []string{"go_schedule_duration_seconds_bucket", "go_goroutine_count"} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// Every open sqlxprobe pool is listed, without being passed to the tracer;
// a closed one is not.
func TestPoolsListsOpenPools(t *testing.T) {
	tr, _ := startBuiltin(t, WithEBPF(EBPFOff), WithoutRuntimeProbe())
	defer shutdown(t, tr)
	a, err := sqlxprobe.Open("sqlite", "file:tracer_pools_a?mode=memory&cache=shared", sqlxprobe.WithPoolName("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := sqlxprobe.Open("sqlite", "file:tracer_pools_b?mode=memory&cache=shared", sqlxprobe.WithPoolName("b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetMaxOpenConns(3)
	names := func() (out []string) {
		for _, p := range tr.Pools() {
			out = append(out, fmt.Sprintf("%s/%s/%d", p.Pool, p.System, p.MaxOpen))
		}
		return out
	}
	if got := strings.Join(names(), " "); got != "a/sqlite/0 b/sqlite/3" {
		t.Errorf("Pools = %s, want a/sqlite/0 b/sqlite/3", got)
	}
	a.Close()
	if got := strings.Join(names(), " "); got != "b/sqlite/3" {
		t.Errorf("after closing a: Pools = %s", got)
	}
	var nilTracer *Tracer
	if nilTracer.Pools() != nil || nilTracer.EBPF() != nil {
		t.Error("nil Tracer hands out pools or a probe")
	}
}
