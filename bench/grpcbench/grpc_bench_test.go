// Package grpcbench compares verdict's gRPC stats handlers with otelgrpc's,
// side by side in one run, against the bare (uninstrumented) baseline: one
// unary RPC and one short bidirectional stream over loopback TCP, client and
// server in this process, so allocations of both sides are counted.
package grpcbench

import (
	"context"
	"net"
	"os"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/stats"

	"github.com/verdict-obs/verdict/middleware"
)

type service struct {
	testpb.UnimplementedTestServiceServer
}

func (service) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (service) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

func setup(b *testing.B, server, client stats.Handler) testpb.TestServiceClient {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var sopts []grpc.ServerOption
	if server != nil {
		sopts = append(sopts, grpc.StatsHandler(server))
	}
	s := grpc.NewServer(sopts...)
	testpb.RegisterTestServiceServer(s, service{})
	go s.Serve(l)
	b.Cleanup(s.Stop)
	copts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if client != nil {
		copts = append(copts, grpc.WithStatsHandler(client))
	}
	cc, err := grpc.NewClient(l.Addr().String(), copts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

type handlers func() (server, client stats.Handler)

func variants(b *testing.B) []struct {
	name string
	h    handlers
} {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		spanProcessor())
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	props := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	v := []middleware.Option{middleware.WithTracerProvider(tp), middleware.WithMeterProvider(mp), middleware.WithPropagators(props)}
	o := []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithMeterProvider(mp), otelgrpc.WithPropagators(props)}
	return []struct {
		name string
		h    handlers
	}{
		{"Bare", func() (stats.Handler, stats.Handler) { return nil, nil }},
		// A stats.Handler that does nothing: what gRPC itself spends
		// because a handler is installed (payload and header events).
		{"NoopHandler", func() (stats.Handler, stats.Handler) { return noopHandler{}, noopHandler{} }},
		{"Verdict", func() (stats.Handler, stats.Handler) {
			return middleware.NewGRPCServerHandler(v...), middleware.NewGRPCClientHandler(v...)
		}},
		{"Otelgrpc", func() (stats.Handler, stats.Handler) {
			return otelgrpc.NewServerHandler(o...), otelgrpc.NewClientHandler(o...)
		}},
	}
}

// BenchmarkUnary: one unary RPC, client and server handlers both active.
func BenchmarkUnary(b *testing.B) {
	for _, v := range variants(b) {
		b.Run(v.name, func(b *testing.B) {
			srvH, cliH := v.h()
			c := setup(b, srvH, cliH)
			req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}}
			ctx := context.Background()
			if _, err := c.UnaryCall(ctx, req); err != nil { // connect outside the loop
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream: a bidirectional stream with 4 round trips.
func BenchmarkStream(b *testing.B) {
	for _, v := range variants(b) {
		b.Run(v.name, func(b *testing.B) {
			srvH, cliH := v.h()
			c := setup(b, srvH, cliH)
			req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("ping")}}
			ctx := context.Background()
			if _, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s, err := c.FullDuplexCall(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for range 4 {
					if err := s.Send(req); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Recv(); err != nil {
						b.Fatal(err)
					}
				}
				s.CloseSend()
				if _, err := s.Recv(); err == nil {
					b.Fatal("stream did not end")
				}
			}
		})
	}
}

type noopHandler struct{}

func (noopHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (noopHandler) HandleRPC(context.Context, stats.RPCStats)                         {}
func (noopHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (noopHandler) HandleConn(context.Context, stats.ConnStats)                       {}

// spanProcessor is a synchronous processor with a no-op exporter, or with
// VERDICT_BENCH_BATCHER=1 the SDK's default batch processor (the usual
// production set-up) with the same exporter. Both sides always get the same.
func spanProcessor() sdktrace.TracerProviderOption {
	if os.Getenv("VERDICT_BENCH_BATCHER") == "1" {
		return sdktrace.WithBatcher(tracetest.NewNoopExporter())
	}
	return sdktrace.WithSyncer(tracetest.NewNoopExporter())
}
