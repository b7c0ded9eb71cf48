package grpc_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/verdict-obs/verdict/internal/probetest"
	"github.com/verdict-obs/verdict/middleware"
)

type echo struct {
	testpb.UnimplementedTestServiceServer
}

func (echo) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

// BenchmarkRequestOnOff: a unary gRPC call through the middleware's client
// and server stats handlers (two spans), with every probe on (eBPF
// required) and with eBPF off, in alternating phases of one run. It reports
// ns-on/req, ns-off/req, their ratio and the allocations per call of each
// (the whole process's, client and server).
func BenchmarkRequestOnOff(b *testing.B) {
	probetest.OnOff(b, 1000, workload)
}

// workload is the benchmark's call, on e's tracer.
func workload(b testing.TB, e *probetest.Env) (func(), func()) {
	tp := middleware.WithTracerProvider(e.Tracer.TracerProvider())
	mp := middleware.WithMeterProvider(e.Tracer.MeterProvider())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer(grpc.StatsHandler(middleware.NewGRPCServerHandler(tp, mp)))
	testpb.RegisterTestServiceServer(s, echo{})
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler(tp, mp)))
	if err != nil {
		b.Fatal(err)
	}
	c := testpb.NewTestServiceClient(cc)
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}}
	do := func() {
		if _, err := c.UnaryCall(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	return do, func() { cc.Close(); s.Stop(); <-done }
}

// TestRequestAllocsOnOff: with every probe on, a call allocates no more
// than with eBPF off (run by CI's allocation pass, without -race).
func TestRequestAllocsOnOff(t *testing.T) { probetest.AllocsOnOff(t, workload) }
