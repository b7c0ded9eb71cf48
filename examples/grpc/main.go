// Command grpc is a gRPC server and its client, both instrumented by
// verdict through the stats handlers: every call is a client span and a
// server span of one trace, with RED metrics on both sides. The service is
// gRPC's standard health service, so there is nothing to generate.
//
//	go run ./examples/grpc            # one call a second until Ctrl-C
//	go run ./examples/grpc -calls 3   # three calls, then exit
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/tracer"
)

func main() {
	calls := flag.Int("calls", 0, "number of calls to make (0: until Ctrl-C)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *calls, time.Second); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// run serves the health service on a loopback port and calls it calls
// times (0: until ctx ends), every interval.
func run(ctx context.Context, out io.Writer, calls int, interval time.Duration) error {
	tr, err := tracer.Start(ctx, tracer.WithServiceName("grpc-example")) // OTEL_* env honoured
	if err != nil {
		return err
	}
	defer tr.Shutdown(context.Background())

	// Server: the stats handler makes a server span per call.
	srv := grpc.NewServer(grpc.StatsHandler(middleware.NewGRPCServerHandler()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Stop()

	// Client: a client span per call, the trace context sent along.
	conn, err := grpc.NewClient(ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; calls == 0 || i < calls; i++ {
		// A parent span, as a request handler would have: the client and
		// server spans of the call are its children.
		cctx, span := tr.TracerProvider().Tracer("grpc-example").Start(ctx, "check")
		resp, err := client.Check(cctx, &healthpb.HealthCheckRequest{})
		span.End()
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		fmt.Fprintf(out, "health %s, trace %s\n", resp.GetStatus(), span.SpanContext().TraceID())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
