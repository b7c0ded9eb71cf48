// Command demo is verdict's example service. It runs a small order service
// on an embedded SQLite database, drives a fixed set of requests through it
// with an instrumented client, and prints what verdict saw: every trace as a
// tree of spans with the attributes verdict adds (client phases, pool wait,
// query fingerprints, GC pauses, and, when the process may use eBPF, the
// kernel-side time of each span), then the tracer's Status and the Go
// runtime probe's findings.
//
//	go run ./examples/demo             # as root: with eBPF (kernel time per span)
//	go run ./examples/demo -json       # spans as the OpenTelemetry stdout exporter's JSON
//
// Everything runs in one process on 127.0.0.1; nothing is sent anywhere.
// The console log (with trace_id and span_id) goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/tracer"
)

func main() {
	jsonOut := flag.Bool("json", false, "print spans as the OpenTelemetry stdout exporter's JSON")
	rounds := flag.Int("rounds", 2, "how many times the client runs its request script")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, os.Stderr, options{json: *jsonOut, rounds: *rounds}); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	json   bool
	rounds int
	ebpf   tracer.EBPFMode
}

// run starts verdict, the service and the client, and writes the report to
// out; the console log goes to errOut.
func run(ctx context.Context, out, errOut io.Writer, o options) error {
	var exp sdktrace.SpanExporter
	tree := newTreePrinter(out)
	if o.json {
		e, err := stdouttrace.New(stdouttrace.WithPrettyPrint(), stdouttrace.WithWriter(out))
		if err != nil {
			return err
		}
		exp = e
	} else {
		exp = tree
	}
	reader := sdkmetric.NewManualReader()
	tr, err := tracer.Start(ctx,
		tracer.WithServiceName("verdict-demo"),
		tracer.WithServiceVersion("0.1.0"),
		tracer.WithEnvironment("demo"),
		tracer.WithSpanExporter(exp),
		tracer.WithMetricReader(reader),
		tracer.WithLogExporter(discardLogs{}),
		tracer.WithConsoleWriter(errOut),
		tracer.WithSlogDefault(),
		tracer.WithEBPF(o.ebpf),
		// A short demo: analyse allocation hotspots and parked goroutines
		// every second instead of every 30 and 10 seconds.
		tracer.WithRuntimeOptions(
			goruntime.WithSampleInterval(250*time.Millisecond),
			goruntime.WithHotspots(time.Second, 3),
			goruntime.WithBlocking(time.Second, 3),
		),
	)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Shutdown(sctx)
	}()

	svc, err := startService(ctx, tr.Logger())
	if err != nil {
		return err
	}
	defer svc.Close()

	fmt.Fprintf(out, "verdict demo: order service on %s, SQLite in memory\n\n", svc.URL)
	fmt.Fprintln(out, "== what verdict sees")
	if err := drive(ctx, svc.URL, o.rounds); err != nil {
		return err
	}
	if err := tr.ForceFlush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if !o.json {
		tree.Print()
	}

	fmt.Fprintln(out, "\n== status")
	fmt.Fprintln(out, tr.Status())

	if p := tr.Runtime(); p != nil {
		// Load for a while so that the runtime probe's hotspot analysis
		// (every second here) covers traffic, not start-up.
		tree.Freeze()
		loadStart := time.Now()
		n := load(ctx, svc.URL, 1500*time.Millisecond)
		for deadline := time.Now().Add(3 * time.Second); p.Snapshot().Hotspots.Time.Before(loadStart.Add(time.Second)) && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprintf(out, "\n== Go runtime, after %d more requests\n", n)
		printRuntime(out, p.Snapshot())
	}
	return nil
}
