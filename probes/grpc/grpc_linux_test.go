package grpc_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/verdict-obs/verdict/internal/probetest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type service struct {
	testpb.UnimplementedTestServiceServer
}

// StreamingInputCall reads every message, then answers.
func (service) StreamingInputCall(stream grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	n := 0
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(n)})
		}
		if err != nil {
			return err
		}
		n += len(m.GetPayload().GetBody())
	}
}

// UnaryCall answers after 100 ms of the handler's own time.
func (service) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	time.Sleep(100 * time.Millisecond)
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func start(t *testing.T, e *probetest.Env) testpb.TestServiceClient {
	t.Helper()
	tp := middleware.WithTracerProvider(e.Tracer.TracerProvider())
	mp := middleware.WithMeterProvider(e.Tracer.MeterProvider())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.StatsHandler(middleware.NewGRPCServerHandler(tp, mp)))
	testpb.RegisterTestServiceServer(s, service{})
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler(tp, mp)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close(); s.Stop(); <-done })
	return testpb.NewTestServiceClient(cc)
}

func spanNamed(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) probetest.Attrs {
	t.Helper()
	for _, s := range spans {
		if strings.HasSuffix(s.Name(), name) {
			a := probetest.AttrsOf(t, s)
			a["_duration"] = attribute.Float64Value(probetest.Duration(s))
			return a
		}
	}
	t.Fatalf("no span %s", name)
	return nil
}

// A client that streams its request slowly: the server span waited on its
// connection's reads, the client span's time was its own. A server that
// answers late: the client waited on its reads, the server span's time was
// its handler's. Without the kernel side the same spans keep their RPC
// fields and say what is missing and why.
func TestSocketWaitDominates(t *testing.T) {
	e := probetest.Start(t)
	c := start(t, e)
	ctx := context.Background()
	st, err := c.StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		time.Sleep(25 * time.Millisecond)
		if err := st.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 1024)}}); err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := st.CloseAndRecv(); err != nil || resp.GetAggregatedPayloadSize() != 8*1024 {
		t.Fatalf("CloseAndRecv: %v, %v", resp, err)
	}
	if _, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	servers := e.WaitSpans(t, trace.SpanKindServer, 2)
	clients := e.WaitSpans(t, trace.SpanKindClient, 2)
	inS, inC := spanNamed(t, servers, "StreamingInputCall"), spanNamed(t, clients, "StreamingInputCall")
	unS, unC := spanNamed(t, servers, "UnaryCall"), spanNamed(t, clients, "UnaryCall")

	if !probetest.Kernel() {
		for name, a := range map[string]probetest.Attrs{"stream server": inS, "stream client": inC, "unary server": unS, "unary client": unC} {
			v := a[semconv.AttrUnmeasured].AsString() // every probe's reasons, joined with "; "
			if !strings.Contains(v, semconv.UnmeasuredSocketTCP+": eBPF off: ") || !strings.Contains(v, "CAP_BPF") {
				t.Errorf("%s: %s = %q", name, semconv.AttrUnmeasured, v)
			}
			if a.Has(semconv.AttrSocketReadWait) || a.Int(t, semconv.AttrRPCGRPCStatusCode) != 0 {
				t.Errorf("%s: %v, want the RPC fields and no socket figures", name, a)
			}
		}
		checkStatus(t, e, probes.StateDegraded, "CAP_BPF")
		return
	}
	checkStatus(t, e, probes.StateOn, "")
	for name, a := range map[string]probetest.Attrs{"stream server": inS, "stream client": inC, "unary server": unS, "unary client": unC} {
		t.Logf("%s: %.1f ms; read wait %.1f ms, write wait %.1f ms, self %.1f ms; read %d B, wrote %d B; shared %v",
			name, 1e3*a.Float(t, "_duration"), 1e3*a.Float(t, semconv.AttrSocketReadWait), 1e3*a.Float(t, semconv.AttrSocketWriteWait),
			1e3*a.Float(t, semconv.AttrSelfDuration), a.Int(t, semconv.AttrSocketReadBytes), a.Int(t, semconv.AttrSocketWriteBytes),
			a[semconv.AttrSocketSharedSpans].Emit())
		// Other probes may add their reasons (the kernel probe's for a
		// stream's goroutine that saw no kernel event); the socket
		// probe's must not be among them.
		if v := a[semconv.AttrUnmeasured].AsString(); strings.Contains(v, semconv.UnmeasuredSocketTCP+":") {
			t.Errorf("%s: unmeasured %v", name, v)
		}
	}
	if rw, d := inS.Float(t, semconv.AttrSocketReadWait), inS.Float(t, "_duration"); rw < d/2 || rw > d {
		t.Errorf("stream server span: read wait %.3fs of %.3fs, want most of it", rw, d)
	}
	if n := inS.Int(t, semconv.AttrSocketReadBytes); n < 8*1024 {
		t.Errorf("stream server span read %d bytes, want >= %d", n, 8*1024)
	}
	if self, d := inC.Float(t, semconv.AttrSelfDuration), inC.Float(t, "_duration"); self < d/2 {
		t.Errorf("stream client span: own time %.3fs of %.3fs for a client that sent slowly, want most of it", self, d)
	}
	if rw, d := unC.Float(t, semconv.AttrSocketReadWait), unC.Float(t, "_duration"); rw < d/2 || rw > d {
		t.Errorf("unary client span: read wait %.3fs of %.3fs, want most of it", rw, d)
	}
	if self, d := unS.Float(t, semconv.AttrSelfDuration), unS.Float(t, "_duration"); self < d/2 {
		t.Errorf("unary server span: handler time %.3fs of %.3fs, want most of it", self, d)
	}
	snap := e.Tracer.GRPC().Snapshot()
	if !snap.Kernel || snap.Server.Spans != 2 || snap.Client.Spans != 2 {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestSocketWaitDominatesUnprivileged(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("already unprivileged")
	}
	probetest.RunUnprivileged(t, "^TestSocketWaitDominates$")
}

// Calls at the same time share the HTTP/2 connection: their spans say how
// many others used it during theirs (the socket figures are the
// connection's).
func TestConcurrentCallsShareTheConnection(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("kernel figures only")
	}
	e := probetest.Start(t)
	c := start(t, e)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := c.UnaryCall(context.Background(), &testpb.SimpleRequest{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	shared := 0
	for _, s := range e.WaitSpans(t, trace.SpanKindClient, 4) {
		if probetest.AttrsOf(t, s).Has(semconv.AttrSocketSharedSpans) {
			shared++
		}
	}
	if shared < 2 {
		t.Errorf("%d of 4 concurrent client spans say the connection was shared", shared)
	}
}

func checkStatus(t *testing.T, e *probetest.Env, state probes.State, why string) {
	t.Helper()
	c, ok := e.Tracer.Status().Component("grpc")
	if !ok || c.State != state || !strings.Contains(c.Reason, why) {
		t.Errorf("grpc component %+v, want %v naming %q", c, state, why)
	}
}
