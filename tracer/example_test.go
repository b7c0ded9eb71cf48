package tracer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/tracer"
)

// Start in main, Shutdown on the way out. Exporters come from the OTEL_*
// environment variables (OTLP by default); options win over them.
func ExampleStart() {
	tr, err := tracer.Start(context.Background(),
		tracer.WithServiceName("checkout"),
		tracer.WithServiceVersion("1.4.2"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			log.Print(err) // e.g. "traces: 12 spans dropped: exporter unavailable: ..."
		}
	}()

	// Instrumentation uses the OpenTelemetry API; the globals are set.
	ctx, span := otel.Tracer("checkout").Start(context.Background(), "charge")
	defer span.End()
	tr.Logger().InfoContext(ctx, "charging card") // carries trace_id and span_id
}

// Options for the common setups. Any of them may be nil-safe left out.
func ExampleOption() {
	tr, err := tracer.Start(context.Background(),
		tracer.WithServiceName("checkout"),
		tracer.WithEnvironment("production"),
		tracer.WithResourceAttributes(attribute.String("team", "payments")),
		tracer.WithOTLPEndpoint("http://collector:4317"), // overrides OTEL_EXPORTER_OTLP_ENDPOINT
		tracer.WithOTLPProtocol(tracer.ProtocolGRPC),
		tracer.WithPrometheus(":9464"), // /metrics instead of OTLP metrics
		tracer.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))),
		tracer.WithConsoleFormat(tracer.ConsoleJSON),
		tracer.WithSlogDefault(),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
}

// Records logged with a span's context carry its IDs, on the console, in
// the OpenTelemetry logs pipeline and in extra handlers.
func ExampleTracer_Logger() {
	// An extra handler that prints without time and with the IDs masked, so
	// that the output is stable.
	mask := func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.TimeKey:
			return slog.Attr{}
		case "trace_id", "span_id":
			return slog.String(a.Key, fmt.Sprintf("<%d hex digits>", len(a.Value.String())))
		}
		return a
	}
	tr, err := tracer.Start(context.Background(),
		tracer.WithoutGlobals(),
		tracer.WithConsoleFormat(tracer.ConsoleNone),
		// verdict's own diagnostics ("probe ebpf is off: missing CAP_BPF
		// ..." without privileges) go to their own logger.
		tracer.WithLogger(slog.New(slog.DiscardHandler)),
		tracer.WithLogHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: mask})),
		tracer.WithSpanExporter(tracetest.NewNoopExporter()),
		tracer.WithMetricReader(sdkmetric.NewManualReader()),
		tracer.WithLogExporter(mustStdoutLog()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())

	ctx, span := tr.TracerProvider().Tracer("example").Start(context.Background(), "charge")
	tr.Logger().InfoContext(ctx, "card charged", "amount", 42)
	span.End()
	tr.Logger().Info("no span here")
	// Output:
	// level=INFO msg="card charged" amount=42 trace_id="<32 hex digits>" span_id="<16 hex digits>"
	// level=INFO msg="no span here"
}

func mustStdoutLog() *stdoutlog.Exporter {
	e, err := stdoutlog.New(stdoutlog.WithWriter(io.Discard))
	if err != nil {
		log.Fatal(err)
	}
	return e
}

// Status is for people (String) and for code (Components).
func ExampleTracer_Status() {
	tr, err := tracer.Start(context.Background(),
		tracer.WithoutGlobals(),
		tracer.WithConsoleFormat(tracer.ConsoleNone),
		tracer.WithServiceName("checkout"),
		tracer.WithSpanExporter(tracetest.NewNoopExporter()),
		tracer.WithMetricReader(sdkmetric.NewManualReader()),
		tracer.WithLogExporter(mustStdoutLog()),
		// Deterministic output: the built-in probes depend on the machine.
		tracer.WithEBPF(tracer.EBPFOff),
		tracer.WithoutRuntimeProbe(),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())

	st := tr.Status()
	fmt.Println(st)
	if c, ok := st.Component("traces"); ok {
		fmt.Println("traces state:", c.State, "dropped:", c.Dropped)
	}
	// Output:
	// verdict: service "checkout"
	// traces: on: *tracetest.NoopExporter (sampler parentbased_always_on)
	// metrics: on: *metric.ManualReader
	// logs: on: *stdoutlog.Exporter
	// propagation: on: baggage, traceparent, tracestate (not the global propagator: WithoutGlobals)
	// judge: on: 13 rules
	// ebpf: off: disabled by WithEBPF(EBPFOff)
	// gc: off: the runtime probe and eBPF are off (WithoutRuntimeProbe, disabled by WithEBPF(EBPFOff))
	// sched: off: the runtime probe and eBPF are off (WithoutRuntimeProbe, disabled by WithEBPF(EBPFOff))
	// nethttp: degraded: no socket figures on spans: eBPF off: disabled by WithEBPF(EBPFOff)
	// grpc: degraded: no socket figures on spans: eBPF off: disabled by WithEBPF(EBPFOff)
	// sql: degraded: no socket figures on spans: eBPF off: disabled by WithEBPF(EBPFOff)
	// tcp: degraded: connect outcomes of verdict's HTTP client only: eBPF off: disabled by WithEBPF(EBPFOff)
	// traces state: on dropped: 0
}

// Shutdown bounded by a deadline reports what it had to drop.
func ExampleTracer_Shutdown() {
	tr, err := tracer.Start(context.Background(), tracer.WithServiceName("checkout"))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		var de *tracer.DropError
		if errors.As(err, &de) {
			log.Printf("%s: %d %s lost", de.Signal, de.Total(), de.Unit)
		}
	}
}

// eBPF is on by default when the process may use it (EBPFAuto); require it
// where kernel-side time is part of the contract, or turn it off.
func ExampleWithEBPF() {
	tr, err := tracer.Start(context.Background(),
		tracer.WithServiceName("checkout"),
		tracer.WithEBPF(tracer.EBPFRequired), // Start fails, saying what is missing, without CAP_BPF
	)
	if err != nil {
		log.Printf("no eBPF here: %v", err)
		return
	}
	defer tr.Shutdown(context.Background())
	if c, ok := tr.Status().Component("ebpf"); ok {
		log.Println(c.State) // on: spans get verdict.kernel.* and verdict.gc.pause.* attributes
	}
}

// The Go runtime probe runs by default; its options tune it, and its
// Snapshot is what the judge reads.
func ExampleTracer_Runtime() {
	tr, err := tracer.Start(context.Background(),
		tracer.WithServiceName("checkout"),
		tracer.WithRuntimeOptions(goruntime.WithFlightRecorder(5*time.Second, 16<<20)),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	if p := tr.Runtime(); p != nil {
		s := p.Snapshot()
		log.Printf("%d goroutines, live heap %d bytes", s.Goroutines, s.HeapLive)
		_ = p.SaveFlightRecord("/tmp/checkout.trace") // the last seconds, for go tool trace
	}
}

// The eBPF probe's parts and the database pools are read the same way: a
// Snapshot value each, for the judge and for rules of your own.
func ExampleTracer_EBPF() {
	tr, err := tracer.Start(context.Background(), tracer.WithServiceName("checkout"))
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	if e := tr.EBPF(); e != nil {
		if k := e.Kernel(); k != nil {
			s := k.Snapshot()
			log.Printf("%.2f goroutines waiting for a CPU on average over %s", s.RunQueueRate, s.Window)
		}
		if stw := e.STW(); stw != nil {
			log.Printf("world stopped %.3f%% of the time", 100*stw.Snapshot().StoppedFraction)
		}
	}
	for _, p := range tr.Pools() {
		log.Printf("pool %s: %d/%d in use, %.2f callers waiting on average", p.Pool, p.InUse, p.MaxOpen, p.WaitTimeRate)
	}
}
