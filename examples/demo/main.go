// Command demo is verdict's example service: a small shop (an HTTP API
// front end, a gRPC back end, a database through sqlxprobe, a pricing
// service found by DNS name), all instrumented by verdict and started with
// tracer.Start, and a tour of what verdict sees and concludes.
//
//	go run ./examples/demo                      # as root: with eBPF (kernel time per span)
//	go run ./examples/demo -fault lock          # one fault only
//	go run ./examples/demo -no-load             # the trace tour, then serve the API for your own load
//	go run ./examples/demo -dsn postgres://...  # PostgreSQL instead of the embedded SQLite
//
// First it prints whether eBPF is on (and, if not, why and how to turn it
// on), sends a few requests and prints each trace as a tree of spans with
// the attributes verdict adds (client phases, pool wait, query
// fingerprints, GC pauses, kernel time). Then it drives load and injects
// faults one after another — GC pressure, a refusing downstream, a slow
// downstream, pool exhaustion, a slow query, lock contention, a goroutine
// leak, a DNS failure, CPU starvation — printing each verdict as it fires
// and clears, and at the end a table: fault, verdict, time to verdict, an
// example trace ID. Ctrl-C stops it at any point.
//
// While it runs, the tracer's status page (Tracer.Handler) and the
// Prometheus metrics are served on -listen (printed at start). Spans and
// logs go over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise the
// console shows the tour's trees and nothing is sent anywhere.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/tracer"
)

func main() {
	if child() {
		return
	}
	var o options
	flag.StringVar(&o.fault, "fault", "", "inject only this fault: "+strings.Join(faultNames(), ", "))
	flag.BoolVar(&o.noLoad, "no-load", false, "run the trace tour, then serve the API (and the status page) until Ctrl-C, without load or faults")
	flag.StringVar(&o.dsn, "dsn", "", "PostgreSQL DSN (postgres://user:pass@host/db); default: SQLite in a temporary directory")
	flag.BoolVar(&o.short, "short", false, "a shorter schedule (shorter warm-up, no waiting for verdicts to clear), for tests")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:6060", "address of the status page (/debug/verdict/) and the metrics (/metrics); taken: any free port")
	flag.BoolVar(&o.stay, "stay", false, "keep serving after the schedule, until Ctrl-C")
	flag.BoolVar(&o.json, "json", false, "print the tour's spans as the OpenTelemetry stdout exporter's JSON instead of trees")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Stdout, os.Stderr, o)
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Println("\ninterrupted: stopped cleanly")
	case err != nil:
		log.Fatal(err)
	}
}

type options struct {
	fault  string
	noLoad bool
	dsn    string
	short  bool
	listen string
	stay   bool
	json   bool
	rounds int             // tour rounds (default 1)
	ebpf   tracer.EBPFMode // tests: EBPFRequired as root
	rows   int             // orders seeded (0: the default; tests under -race seed fewer)
	// Test hooks: ready gets the status page's URL; tourOnly stops after
	// the tour; whileFaulty runs when a fault's verdict fired, before the
	// fault is removed.
	ready       func(statusURL string)
	tourOnly    bool
	whileFaulty func(ctx context.Context, rule string)
}

// run starts verdict and the shop, runs the tour and the fault schedule,
// and writes the report to out; the console log goes to errOut during the
// tour.
func run(ctx context.Context, out, errOut io.Writer, o options) error {
	var selected []fault
	if o.fault != "" {
		f, ok := faultByName(o.fault)
		if !ok {
			return fmt.Errorf("unknown fault %q (one of %s)", o.fault, strings.Join(faultNames(), ", "))
		}
		selected = []fault{f}
	} else {
		selected = faults()
	}
	if o.rounds == 0 {
		o.rounds = 1
	}
	sched := newSchedule(out, o.short)
	sched.hold = o.whileFaulty

	// Metrics for Prometheus on the demo's own admin mux, with the Go
	// scheduler-latency histogram verdict provides and the process and Go
	// collectors of client_golang.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	promReader, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithProducer(tracer.NewRuntimeProducer()))
	if err != nil {
		return err
	}

	// Spans: the tour's trees on the console (or JSON with -json), and
	// OTLP when the environment names an endpoint. The console log shows
	// during the tour; afterwards the demo prints the verdicts itself.
	tree := newTreePrinter(out)
	console := &switchWriter{w: errOut}
	otlp := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	var tourExp sdktrace.SpanExporter = tree
	if o.json {
		e, err := stdouttrace.New(stdouttrace.WithPrettyPrint(), stdouttrace.WithWriter(out))
		if err != nil {
			return err
		}
		tourExp = &gatedExporter{SpanExporter: e}
	}
	opts := []tracer.Option{
		tracer.WithServiceName("verdict-demo"),
		tracer.WithServiceVersion("0.2.0"),
		tracer.WithEnvironment("demo"),
		tracer.WithMetricReader(promReader),
		tracer.WithConsoleWriter(console),
		tracer.WithSlogDefault(),
		tracer.WithVerdictHandler(sched.onVerdict),
	}
	if o.ebpf != tracer.EBPFAuto {
		opts = append(opts, tracer.WithEBPF(o.ebpf))
	}
	if otlp {
		// The exporters the OTEL_* variables name (OTLP), plus the tour's
		// printer beside them.
		opts = append(opts, tracer.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tourExp)))
	} else {
		opts = append(opts, tracer.WithSpanExporter(tourExp), tracer.WithLogExporter(discardLogs{}))
	}
	tr, err := tracer.Start(ctx, opts...)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Shutdown(sctx)
	}()
	sched.tr = tr

	// The admin server: the status page, mounted like net/http/pprof, and
	// /metrics.
	admin := http.NewServeMux()
	admin.Handle("/debug/verdict/", http.StripPrefix("/debug/verdict", tr.Handler()))
	admin.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	adminSrv := &http.Server{Handler: admin, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = adminSrv.Serve(ln) }()
	defer adminSrv.Close()
	adminURL := "http://" + ln.Addr().String()

	fmt.Fprintln(out, "verdict demo")
	printEBPF(out, tr.Status())

	seedStart := time.Now()
	sys, err := startSystem(ctx, systemConfig{Tracer: tr, DSN: o.dsn, Rows: o.rows})
	if err != nil {
		return err
	}
	defer sys.Close()
	fmt.Fprintf(out, "shop:        API %s → gRPC back end %s → %s (seeded in %s)\n",
		sys.FrontURL, sys.BackAddr, sys.DBName, time.Since(seedStart).Round(100*time.Millisecond))
	fmt.Fprintf(out, "             pricing service at %s (resolved by the demo's own DNS server)\n", sys.PricingURL)
	fmt.Fprintf(out, "status page: %s/debug/verdict/\n", adminURL)
	fmt.Fprintf(out, "metrics:     %s/metrics\n", adminURL)
	if otlp {
		fmt.Fprintln(out, "spans, logs: OTLP, as the OTEL_* environment says")
	}
	if o.ready != nil {
		o.ready(adminURL + "/debug/verdict/")
	}

	fmt.Fprintln(out, "\n== what verdict sees: one request of each kind, as trace trees")
	tourStart := time.Now()
	if err := tour(ctx, sys, o.rounds); err != nil {
		return err
	}
	if err := tr.ForceFlush(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	if !o.json {
		tree.Print(tourStart)
	}
	tree.Freeze()
	if g, ok := tourExp.(*gatedExporter); ok {
		g.off.Store(true)
	}
	console.mute()

	fmt.Fprintln(out, "\n== status")
	fmt.Fprintln(out, tr.Status())
	if o.tourOnly {
		return nil
	}

	if o.noLoad {
		fmt.Fprintf(out, "\nServing until Ctrl-C: drive your own load (e.g. wrk -d 60s %s/orders/1) and watch %s/debug/verdict/\n", sys.FrontURL, adminURL)
		<-ctx.Done()
		return ctx.Err()
	}
	if err := sched.run(ctx, sys, selected); err != nil {
		return err
	}
	if o.stay {
		fmt.Fprintf(out, "\nServing until Ctrl-C: %s/debug/verdict/\n", adminURL)
		<-ctx.Done()
	}
	return nil
}

// child runs this program as one of the demo's other processes when the
// environment asks for one: a CPU hog of the CPU-starvation fault, or the
// load.
func child() bool {
	if os.Getenv(hogEnv) != "" {
		hog()
		return true
	}
	if base := os.Getenv(loadEnv); base != "" {
		loadMain(base)
		return true
	}
	return false
}

// printEBPF says whether eBPF is on and, if not, why and how to turn it on.
func printEBPF(out io.Writer, st tracer.Status) {
	c, _ := st.Component("ebpf")
	if c.State == probes.StateOn {
		fmt.Fprintln(out, "eBPF:        on: every span gets its kernel time (system calls, off-CPU, run-queue wait) and exact GC stop-the-world pauses")
		return
	}
	reason := c.Reason
	if reason == "" {
		reason = c.State.String()
	}
	fmt.Fprintf(out, "eBPF:        off: %s\n", reason)
	if pf := bpf.Check(); errors.Is(pf.Err, os.ErrPermission) {
		fmt.Fprintln(out, "             everything else works without it; to see kernel time per span, run as root:")
		fmt.Fprintln(out, "                 sudo go run ./examples/demo")
		fmt.Fprintln(out, "             or give a built binary the two capabilities it needs:")
		fmt.Fprintln(out, "                 go build -o demo ./examples/demo && sudo setcap cap_bpf,cap_perfmon+ep demo && ./demo")
	}
}

// switchWriter passes writes through until muted.
type switchWriter struct {
	mu    sync.Mutex
	w     io.Writer
	muted bool
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.muted {
		return len(p), nil
	}
	return s.w.Write(p)
}

func (s *switchWriter) mute() {
	s.mu.Lock()
	s.muted = true
	s.mu.Unlock()
}

// gatedExporter drops spans once off is set (the -json tour's exporter:
// the load that follows would flood the console).
type gatedExporter struct {
	sdktrace.SpanExporter
	off atomic.Bool
}

func (g *gatedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if g.off.Load() {
		return nil
	}
	return g.SpanExporter.ExportSpans(ctx, spans)
}
