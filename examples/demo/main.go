// Command demo is the smallest verdict program: it starts the tracer with
// the stdout exporters, makes one span with a child, logs a trace-correlated
// record, prints the tracer's Status and shuts down.
//
//	go run ./examples/demo
//
// Spans, log records and metrics are printed as JSON on stdout; the console
// log (with trace_id and span_id) and the Status go to stderr.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/verdict-obs/verdict/tracer"
)

func main() {
	if err := run(os.Stdout, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

// run writes the telemetry to out and the console log and Status to errOut.
func run(out, errOut io.Writer) error {
	spans, err := stdouttrace.New(stdouttrace.WithPrettyPrint(), stdouttrace.WithWriter(out))
	if err != nil {
		return err
	}
	metrics, err := stdoutmetric.New(stdoutmetric.WithWriter(out))
	if err != nil {
		return err
	}
	logs, err := stdoutlog.New(stdoutlog.WithWriter(out))
	if err != nil {
		return err
	}
	tr, err := tracer.Start(context.Background(),
		tracer.WithServiceName("verdict-demo"),
		tracer.WithServiceVersion("0.1.0"),
		tracer.WithSpanExporter(spans),
		tracer.WithMetricReader(sdkmetric.NewPeriodicReader(metrics)),
		tracer.WithLogExporter(logs),
		tracer.WithConsoleWriter(errOut),
		tracer.WithSlogDefault(),
	)
	if err != nil {
		return err
	}

	handled, err := tr.MeterProvider().Meter("demo").Int64Counter("demo.orders")
	if err != nil {
		return err
	}
	t := tr.TracerProvider().Tracer("demo")
	ctx, parent := t.Start(context.Background(), "GET /orders/{id}")
	{
		cctx, child := t.Start(ctx, "load order")
		child.SetAttributes(attribute.Int("order.id", 42))
		time.Sleep(5 * time.Millisecond) // stands in for a database call
		tr.Logger().InfoContext(cctx, "order loaded", "order.id", 42)
		child.End()
	}
	handled.Add(ctx, 1)
	parent.End()

	fmt.Fprintln(errOut, tr.Status())

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return tr.Shutdown(sctx)
}
