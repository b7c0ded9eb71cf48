package middleware

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// testService implements the gRPC interop TestService; when next is set,
// each call makes the same kind of call to next before answering (a chain).
type testService struct {
	testpb.UnimplementedTestServiceServer
	next     testpb.TestServiceClient
	streamIn chan struct{} // FullDuplexCall signals each received message
}

func (s *testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if string(req.GetPayload().GetBody()) == "fail" {
		return nil, status.Error(codes.Internal, "asked to fail")
	}
	if string(req.GetPayload().GetBody()) == "slow" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if s.next != nil {
		resp, err := s.next.UnaryCall(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: append([]byte("pong:"), req.GetPayload().GetBody()...)}}, nil
}

func (s *testService) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	for range req.GetResponseParameters() {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: []byte("x")}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *testService) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	var down grpc.BidiStreamingClient[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]
	if s.next != nil {
		var err error
		if down, err = s.next.FullDuplexCall(stream.Context()); err != nil {
			return err
		}
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if down != nil {
				down.CloseSend()
				for {
					if _, err := down.Recv(); err != nil {
						break
					}
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		if s.streamIn != nil {
			s.streamIn <- struct{}{}
		}
		body := req.GetPayload().GetBody()
		if down != nil {
			if err := down.Send(req); err != nil {
				return err
			}
			resp, err := down.Recv()
			if err != nil {
				return err
			}
			body = resp.GetPayload().GetBody()
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
			return err
		}
	}
}

// startGRPC serves svc on a loopback TCP port with the server handler.
func startGRPC(t *testing.T, tel *telemetry, svc testpb.TestServiceServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.StatsHandler(NewGRPCServerHandler(tel.opts()...)))
	testpb.RegisterTestServiceServer(s, svc)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return l.Addr().String()
}

func dialGRPC(t *testing.T, tel *telemetry, addr string) testpb.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(NewGRPCClientHandler(tel.opts()...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

// checkChain asserts that spans form root -> c1 -> s1 -> c2 -> s2 in one
// trace, in that parent order, by kind.
func checkChain(t *testing.T, spans []sdktrace.ReadOnlySpan, root trace.Span, kinds []trace.SpanKind) {
	t.Helper()
	byParent := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %s (%s) in another trace", s.Name(), s.SpanKind())
		}
		if prev, dup := byParent[s.Parent().SpanID()]; dup && s.Name() != "root" {
			t.Errorf("two children of one parent: %s and %s", prev.Name(), s.Name())
		}
		byParent[s.Parent().SpanID()] = s
	}
	cur := root.SpanContext().SpanID()
	for i, k := range kinds {
		child, ok := byParent[cur]
		if !ok {
			t.Fatalf("link %d (%s): no child of %s", i, k, cur)
		}
		if child.SpanKind() != k {
			t.Fatalf("link %d: kind %s (%s), want %s", i, child.SpanKind(), child.Name(), k)
		}
		cur = child.SpanContext().SpanID()
	}
}

var chainKinds = []trace.SpanKind{trace.SpanKindClient, trace.SpanKindServer, trace.SpanKindClient, trace.SpanKindServer}

func TestGRPCUnaryChain(t *testing.T) {
	tel := newTelemetry(t)
	addrB := startGRPC(t, tel, &testService{})
	addrA := startGRPC(t, tel, &testService{next: dialGRPC(t, tel, addrB)})
	client := dialGRPC(t, tel, addrA)

	ctx, root := tel.tp.Tracer("t").Start(context.Background(), "root")
	resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}})
	root.End()
	if err != nil || string(resp.GetPayload().GetBody()) != "pong:ping" {
		t.Fatalf("resp %v err %v", resp, err)
	}
	spans := tel.waitSpans(t, 5)
	checkChain(t, spans, root, chainKinds)
	servers := map[string]int{}
	for _, s := range spans {
		if s.Name() == "root" {
			continue
		}
		if s.Name() != "grpc.testing.TestService/UnaryCall" {
			t.Errorf("span name %q", s.Name())
		}
		a := attrMap(s.Attributes())
		if a[semconv.AttrRPCGRPCStatusCode].AsInt64() != 0 || a[semconv.AttrRPCSystemName].AsString() != "grpc" {
			t.Errorf("attrs %v", a)
		}
		// A client span names the server it reached (required on RPC
		// client spans): the connection's remote address.
		if s.SpanKind() == trace.SpanKindClient {
			got := net.JoinHostPort(a[semconv.AttrServerAddress].AsString(), strconv.FormatInt(a[semconv.AttrServerPort].AsInt64(), 10))
			if got != addrA && got != addrB {
				t.Errorf("client span: server.address:server.port %s, want %s or %s", got, addrA, addrB)
			}
			servers[got]++
		} else if _, ok := a[semconv.AttrServerAddress]; ok {
			t.Errorf("server span with server.address %v", a[semconv.AttrServerAddress])
		}
	}
	if servers[addrA] != 1 || servers[addrB] != 1 {
		t.Errorf("client spans by server: %v, want one to each of %s and %s", servers, addrA, addrB)
	}
	tel.waitHist(t, semconv.MetricRPCServerCallDuration, 2)
	rm := tel.waitHist(t, semconv.MetricRPCClientCallDuration, 2)
	for _, name := range []string{semconv.MetricRPCServerCallDuration, semconv.MetricRPCClientCallDuration} {
		m, ok := findMetric(rm, name)
		if !ok || histCount(m) != 2 {
			t.Fatalf("%s: %v count %d", name, ok, histCount(m))
		}
		sets := strings.Join(dataPointAttrs(m), " ")
		if !strings.Contains(sets, "rpc.grpc.status_code=0") || !strings.Contains(sets, "rpc.method=grpc.testing.TestService/UnaryCall") {
			t.Errorf("%s series %s", name, sets)
		}
	}
	for _, name := range []string{semconv.MetricRPCServerRequestSize, semconv.MetricRPCServerResponseSize,
		semconv.MetricRPCClientRequestsPerRPC, semconv.MetricRPCServerResponsesPerRPC} {
		if m, ok := findMetric(rm, name); !ok || histCount(m) == 0 {
			t.Errorf("%s missing", name)
		}
	}
	// The client's metrics have a series per server it called, named as
	// on its spans (server.address and server.port are recommended on RPC
	// client metrics); the server's have none.
	hostPort := func(a string) string {
		h, p, _ := net.SplitHostPort(a)
		return "server.address=" + h + ",server.port=" + p
	}
	for _, name := range []string{semconv.MetricRPCClientCallDuration, semconv.MetricRPCClientRequestSize,
		semconv.MetricRPCClientResponseSize, semconv.MetricRPCClientRequestsPerRPC, semconv.MetricRPCClientResponsesPerRPC} {
		m, _ := findMetric(rm, name)
		sets := dataPointAttrs(m)
		if len(sets) != 2 || !strings.Contains(strings.Join(sets, " "), hostPort(addrA)) || !strings.Contains(strings.Join(sets, " "), hostPort(addrB)) {
			t.Errorf("%s: series %q, want one with %s and one with %s", name, sets, hostPort(addrA), hostPort(addrB))
		}
	}
	for _, name := range []string{semconv.MetricRPCServerCallDuration, semconv.MetricRPCServerRequestSize} {
		m, _ := findMetric(rm, name)
		if sets := strings.Join(dataPointAttrs(m), " "); strings.Contains(sets, "server.address") {
			t.Errorf("%s: server series with server.address: %s", name, sets)
		}
	}
}

func TestGRPCStreamingChain(t *testing.T) {
	tel := newTelemetry(t)
	addrB := startGRPC(t, tel, &testService{})
	addrA := startGRPC(t, tel, &testService{next: dialGRPC(t, tel, addrB)})
	client := dialGRPC(t, tel, addrA)

	ctx, root := tel.tp.Tracer("t").Start(context.Background(), "root")
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte{byte('a' + i)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("final recv: %v", err)
	}
	root.End()
	spans := tel.waitSpans(t, 5)
	checkChain(t, spans, root, chainKinds)
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient {
			a := attrMap(s.Attributes())
			if a[semconv.AttrRPCRequestCount].AsInt64() != 3 || a[semconv.AttrRPCResponseCount].AsInt64() != 3 {
				t.Errorf("client %s counts %v/%v", s.Name(), a[semconv.AttrRPCRequestCount], a[semconv.AttrRPCResponseCount])
			}
		}
	}
}

// TestGRPCAbandonedStream: the client sends on a stream and never calls
// CloseSend or Recv; when its context ends, both spans end.
func TestGRPCAbandonedStream(t *testing.T) {
	tel := newTelemetry(t)
	svc := &testService{streamIn: make(chan struct{}, 1)}
	client := dialGRPC(t, tel, startGRPC(t, tel, svc))
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	<-svc.streamIn
	if n := len(tel.rec.Ended()); n != 0 {
		t.Fatalf("%d spans ended while the stream is open", n)
	}
	cancel() // no CloseSend, no Recv
	spans := tel.waitSpans(t, 2)
	for _, s := range spans {
		code, _ := spanAttr(s, semconv.AttrRPCGRPCStatusCode)
		if codes.Code(code.AsInt64()) != codes.Canceled {
			t.Errorf("%s span: status code %v", s.SpanKind(), code)
		}
		if et, _ := spanAttr(s, semconv.AttrErrorType); et.AsString() != "CANCELLED" {
			t.Errorf("%s span: error.type %v", s.SpanKind(), et)
		}
	}
}

// TestGRPCServerStreamNotDrained: a server stream whose client reads one
// message of many and then gives up by canceling.
func TestGRPCServerStreamNotDrained(t *testing.T) {
	tel := newTelemetry(t)
	client := dialGRPC(t, tel, startGRPC(t, tel, &testService{}))
	ctx, cancel := context.WithCancel(context.Background())
	params := make([]*testpb.ResponseParameters, 5)
	for i := range params {
		params[i] = &testpb.ResponseParameters{}
	}
	stream, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: params})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	spans := tel.waitSpans(t, 2)
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient {
			if code, _ := spanAttr(s, semconv.AttrRPCGRPCStatusCode); codes.Code(code.AsInt64()) != codes.Canceled {
				t.Errorf("client status %v", code)
			}
		}
	}
}

// TestGRPCErrors: status codes from real failures land in error.type and
// rpc.grpc.status_code; unknown methods do not create metric series.
func TestGRPCErrors(t *testing.T) {
	tel := newTelemetry(t)
	client := dialGRPC(t, tel, startGRPC(t, tel, &testService{}))

	_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("fail")}})
	if status.Code(err) != codes.Internal {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("slow")}})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatal(err)
	}
	if _, err = client.UnimplementedCall(context.Background(), &testpb.Empty{}); status.Code(err) != codes.Unimplemented {
		t.Fatal(err)
	}
	dead := dialGRPC(t, tel, closedPort(t))
	if _, err = dead.EmptyCall(context.Background(), &testpb.Empty{}); status.Code(err) != codes.Unavailable {
		t.Fatal(err)
	}
	spans := tel.waitSpans(t, 7)
	want := map[string]int{}
	for _, s := range spans {
		et, _ := spanAttr(s, semconv.AttrErrorType)
		want[s.SpanKind().String()+":"+et.AsString()]++
	}
	for _, k := range []string{"client:INTERNAL", "server:INTERNAL", "client:DEADLINE_EXCEEDED", "client:UNIMPLEMENTED", "server:UNIMPLEMENTED", "client:UNAVAILABLE"} {
		if want[k] == 0 {
			t.Errorf("no span %s in %v", k, want)
		}
	}
	for _, s := range spans {
		if s.SpanKind().String() != "server" {
			continue
		}
		if code, _ := spanAttr(s, semconv.AttrRPCResponseStatusCode); code.AsString() != "UNIMPLEMENTED" {
			continue
		}
		// The unknown method's name, chosen by the caller, is neither the
		// span name nor rpc.method.
		orig, _ := spanAttr(s, semconv.AttrRPCMethodOriginal)
		if method, _ := spanAttr(s, semconv.AttrRPCMethod); s.Name() != "grpc" || method.AsString() != "_OTHER" ||
			!strings.HasSuffix(orig.AsString(), "/UnimplementedCall") {
			t.Errorf("unknown-method server span %q: rpc.method=%v rpc.method_original=%v", s.Name(), method.Emit(), orig.Emit())
		}
	}
	m, _ := findMetric(tel.waitHist(t, semconv.MetricRPCServerCallDuration, 3), semconv.MetricRPCServerCallDuration)
	sets := strings.Join(dataPointAttrs(m), " ")
	if strings.Contains(sets, "UnimplementedCall") || !strings.Contains(sets, "rpc.method=_OTHER") {
		t.Errorf("server series: %s", sets)
	}
}

// TestMixedHTTPToGRPC: HTTP client -> HTTP server -> gRPC client -> gRPC
// server is one trace.
func TestMixedHTTPToGRPC(t *testing.T) {
	tel := newTelemetry(t)
	grpcClient := dialGRPC(t, tel, startGRPC(t, tel, &testService{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rpc", func(w http.ResponseWriter, r *http.Request) {
		resp, err := grpcClient.UnaryCall(r.Context(), &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("h")}})
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		w.Write(resp.GetPayload().GetBody())
	})
	srv := httptest.NewServer(NewHandler(mux, tel.opts()...))
	defer srv.Close()
	ctx, root := tel.tp.Tracer("t").Start(context.Background(), "root")
	code, body := get(t, newClient(t, tel.opts()...), ctx, srv.URL+"/rpc")
	root.End()
	if code != 200 || body != "pong:h" {
		t.Fatalf("%d %q", code, body)
	}
	spans := tel.waitSpans(t, 5)
	checkChain(t, spans, root, chainKinds)
}

// TestGRPCServerEndsFirst: the server handler returns while the client has
// neither closed its side nor received; the server span ends at once and
// the client span ends when the client's context does.
func TestGRPCServerEndsFirst(t *testing.T) {
	tel := newTelemetry(t)
	svc := &quitService{}
	client := dialGRPC(t, tel, startGRPC(t, tel, svc))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testpb.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	s := tel.waitSpans(t, 1)[0]
	if s.SpanKind() != trace.SpanKindServer {
		t.Fatalf("first span to end is %s", s.SpanKind())
	}
	if code, _ := spanAttr(s, semconv.AttrRPCGRPCStatusCode); codes.Code(code.AsInt64()) != codes.Aborted {
		t.Errorf("server status %v", code)
	}
	cancel()
	tel.waitSpans(t, 2)
}

type quitService struct {
	testpb.UnimplementedTestServiceServer
}

func (quitService) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	return status.Error(codes.Aborted, "done with you")
}

// TestGRPCMethodFlood: random method names do not create server series.
func TestGRPCMethodFlood(t *testing.T) {
	tel := newTelemetry(t)
	addr := startGRPC(t, tel, &testService{})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for i := range 200 {
		method := "/rnd" + strconv.Itoa(i) + ".Svc/M" + strconv.Itoa(i*7919)
		err := cc.Invoke(context.Background(), method, &testpb.Empty{}, &testpb.Empty{})
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("%s: %v", method, err)
		}
	}
	// gRPC reports no end for methods the server does not serve, so these
	// calls leave no metric series (and export no span) at all; a served
	// method answering Unimplemented is folded into _OTHER (TestGRPCErrors).
	if _, err := dialGRPC(t, tel, addr).UnimplementedCall(context.Background(), &testpb.Empty{}); status.Code(err) != codes.Unimplemented {
		t.Fatal(err)
	}
	rm := tel.waitHist(t, semconv.MetricRPCServerCallDuration, 1)
	for _, name := range []string{semconv.MetricRPCServerCallDuration, semconv.MetricRPCServerRequestsPerRPC,
		semconv.MetricRPCServerRequestSize} {
		m, _ := findMetric(rm, name)
		for _, set := range dataPointAttrs(m) {
			if strings.Contains(set, "rnd") {
				t.Errorf("%s: series for a random method: %s", name, set)
			}
		}
		if m, ok := findMetric(rm, name); ok && name != semconv.MetricRPCServerRequestSize && len(dataPointAttrs(m)) != 1 {
			t.Errorf("%s: %v", name, dataPointAttrs(m))
		}
	}
	for _, s := range tel.rec.Ended() {
		if strings.Contains(s.Name(), "rnd") {
			t.Errorf("span exported for random method %s", s.Name())
		}
	}
}

type mdService struct {
	testpb.UnimplementedTestServiceServer
	got chan metadata.MD
}

func (s *mdService) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.got <- md
	return &testpb.Empty{}, nil
}

// TestGRPCKeepsCallerMetadata: the caller's outgoing metadata and the
// trace context both arrive, with and without caller metadata.
func TestGRPCKeepsCallerMetadata(t *testing.T) {
	tel := newTelemetry(t)
	svc := &mdService{got: make(chan metadata.MD, 1)}
	client := dialGRPC(t, tel, startGRPC(t, tel, svc))
	for _, withUser := range []bool{false, true} {
		ctx := context.Background()
		if withUser {
			ctx = metadata.AppendToOutgoingContext(ctx, "x-user", "alice")
		}
		if _, err := client.EmptyCall(ctx, &testpb.Empty{}); err != nil {
			t.Fatal(err)
		}
		md := <-svc.got
		if len(md.Get("traceparent")) != 1 {
			t.Errorf("user metadata %v: traceparent %v", withUser, md.Get("traceparent"))
		}
		if withUser && md.Get("x-user")[0] != "alice" {
			t.Errorf("caller metadata lost: %v", md)
		}
	}
}

func startGRPCWith(t *testing.T, opts []Option, svc testpb.TestServiceServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.StatsHandler(NewGRPCServerHandler(opts...)))
	testpb.RegisterTestServiceServer(s, svc)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return l.Addr().String()
}

func dialGRPCWith(t *testing.T, opts []Option, addr string) testpb.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(NewGRPCClientHandler(opts...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc)
}
