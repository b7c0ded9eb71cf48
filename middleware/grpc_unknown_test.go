package middleware

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/w3c"
)

// rawClient dials addr without instrumentation: the caller of an unknown
// method may be anyone.
func rawClient(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// startGRPCServer serves the test service with the server handler, and
// with the unknown-service handler when unknown is not nil.
func startGRPCServer(t testing.TB, tel *telemetry, unknown grpc.StreamHandler, opts ...Option) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sopts := []grpc.ServerOption{grpc.StatsHandler(NewGRPCServerHandler(tel.opts(opts...)...))}
	if unknown != nil {
		sopts = append(sopts, grpc.UnknownServiceHandler(unknown))
	}
	s := grpc.NewServer(sopts...)
	testpb.RegisterTestServiceServer(s, &testService{})
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return l.Addr().String()
}

// gRPC answers a method it does not know (unknown service, unknown method
// of a known service) with Unimplemented and never reports the end of that
// RPC to the stats handler. Each such call is a name the caller chose: its
// server span must still end (or it would never be exported, and with eBPF
// on it would hold a kernel slot), be named "grpc" with rpc.method _OTHER,
// and create no metric series of its own.
func TestGRPCUnknownMethodSpanEnds(t *testing.T) {
	for _, withUnknownHandler := range []bool{false, true} {
		t.Run(fmt.Sprintf("unknown-service-handler=%v", withUnknownHandler), func(t *testing.T) {
			tel := newTelemetry(t)
			var unknown grpc.StreamHandler
			if withUnknownHandler {
				unknown = func(any, grpc.ServerStream) error { return status.Error(codes.Unimplemented, "no such method") }
			}
			cc := rawClient(t, startGRPCServer(t, tel, unknown, WithMaxSeries(20)))
			const n = 40
			for i := range n {
				method := fmt.Sprintf("/attacker.Chosen%d/Method%d", i, i)
				if i%2 == 1 {
					method = fmt.Sprintf("/grpc.testing.TestService/NoSuch%d", i) // known service, unknown method
				}
				err := cc.Invoke(context.Background(), method, &testpb.Empty{}, &testpb.Empty{})
				if status.Code(err) != codes.Unimplemented {
					t.Fatalf("%s: %v", method, err)
				}
			}
			// A known method still works and is named as such.
			if err := cc.Invoke(context.Background(), "/grpc.testing.TestService/UnaryCall", &testpb.SimpleRequest{}, &testpb.SimpleResponse{}); err != nil {
				t.Fatal(err)
			}
			spans := tel.waitSpans(t, n+1)
			names := map[string]int{}
			for _, s := range spans {
				names[s.Name()]++
				m, _ := spanAttr(s, semconv.AttrRPCMethod)
				orig, hasOrig := spanAttr(s, semconv.AttrRPCMethodOriginal)
				if s.Name() == "grpc" && (m.AsString() != semconv.ValueOther || !hasOrig || !strings.Contains(orig.AsString(), "/")) {
					t.Errorf("unknown-method span: rpc.method %q, rpc.method_original %q", m.AsString(), orig.AsString())
				}
			}
			if names["grpc"] != n || names["grpc.testing.TestService/UnaryCall"] != 1 {
				t.Errorf("span names %v, want %d \"grpc\" and one UnaryCall", names, n)
			}
			rm := tel.collect(t)
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					for _, set := range metricAttrSets(m) {
						if v, ok := set.Value(semconv.AttrRPCMethod); ok && strings.Contains(v.AsString(), "attacker") || strings.Contains(v.AsString(), "NoSuch") {
							t.Errorf("%s has a series for the caller's name %q", m.Name, v.AsString())
						}
					}
				}
			}
		})
	}
}

var _ stats.Handler = (*grpcHandler)(nil)

// grpcRoutable reports whether gRPC's server hands method to the stats
// handler: "/service/method" in visible ASCII.
func grpcRoutable(method string) bool {
	sm, ok := strings.CutPrefix(method, "/")
	if !ok || !strings.Contains(sm, "/") {
		return false
	}
	for i := 0; i < len(method); i++ {
		if method[i] < 0x21 || method[i] > 0x7e {
			return false
		}
	}
	return true
}

// printable reports whether v is a metadata value gRPC sends as is.
func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

var registeredGRPC = []string{
	"grpc.testing.TestService/EmptyCall", "grpc.testing.TestService/UnaryCall",
	"grpc.testing.TestService/CacheableUnaryCall", "grpc.testing.TestService/StreamingOutputCall",
	"grpc.testing.TestService/StreamingInputCall", "grpc.testing.TestService/FullDuplexCall",
	"grpc.testing.TestService/HalfDuplexCall", "grpc.testing.TestService/UnimplementedCall",
}

// FuzzGRPCServer calls a real gRPC server with arbitrary method names and
// trace metadata. Properties: every RPC gRPC routes gets exactly one server
// span that ends; its name and rpc.method are a registered method or
// "grpc"/_OTHER (with rpc.method_original), never the caller's text; the
// trace continues exactly when traceparent is valid; no metric attribute
// holds the caller's text.
func FuzzGRPCServer(f *testing.F) {
	f.Add("/grpc.testing.TestService/UnaryCall", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7", "k=v")
	f.Add("/attacker/method", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "a@b=c", "")
	f.Add("/grpc.testing.TestService/Nope", "garbage", "", "k=%zz")
	f.Add("no-slash", "", "", "")
	f.Add("/a/b/c", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", strings.Repeat("k=v,", 40), strings.Repeat("a=b,", 70))
	tel := newTelemetry(f)
	cc := rawClient(f, startGRPCServer(f, tel, nil, WithMaxSeries(20)))
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, method, tp, ts, bg string) {
		mu.Lock()
		defer mu.Unlock()
		// The previous call's span may still be ending: for a method it
		// does not know gRPC ends the stream, and the handler the span,
		// some time after the client has its answer (seen up to nine
		// calls later). Every span started so far ends before the
		// recorder starts afresh, or this call would judge that one.
		for deadline := time.Now().Add(5 * time.Second); len(tel.rec.Ended()) < len(tel.rec.Started()) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Microsecond)
		}
		tel.rec.Reset()
		var kv []string
		for _, p := range [][2]string{{"traceparent", tp}, {"tracestate", ts}, {"baggage", bg}} {
			if p[1] != "" && printable(p[1]) {
				kv = append(kv, p[0], p[1])
			}
		}
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), kv...), 5*time.Second)
		defer cancel()
		err := cc.Invoke(ctx, method, &testpb.SimpleRequest{}, &testpb.SimpleResponse{})
		var server []sdktrace.ReadOnlySpan
		deadline := time.Now().Add(5 * time.Second)
		for {
			server = server[:0]
			for _, s := range tel.rec.Ended() {
				if s.SpanKind() == trace.SpanKindServer {
					server = append(server, s)
				}
			}
			if len(server) > 0 || !grpcRoutable(method) || status.Code(err) == codes.Internal || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if grpcRoutable(method) && status.Code(err) != codes.Internal && len(server) != 1 {
			t.Fatalf("%q (%v): %d server spans ended, want 1", method, err, len(server))
		}
		for _, s := range server {
			m, _ := spanAttr(s, semconv.AttrRPCMethod)
			orig, hasOrig := spanAttr(s, semconv.AttrRPCMethodOriginal)
			switch {
			case slices.Contains(registeredGRPC, s.Name()) && m.AsString() == s.Name() && !hasOrig:
			case s.Name() == "grpc" && m.AsString() == semconv.ValueOther && hasOrig && "/"+orig.AsString() == method:
			default:
				t.Fatalf("%q: span %q, rpc.method %q, rpc.method_original %q", method, s.Name(), m.AsString(), orig.AsString())
			}
			want, valid := w3c.ParseTraceParent(tp)
			if tp == "" || !printable(tp) {
				valid = false
			}
			if p := s.Parent(); valid != p.IsValid() || valid && (p.TraceID() != want.TraceID || p.SpanID() != want.SpanID) {
				t.Fatalf("traceparent %q: parent %v", tp, p)
			}
		}
		for _, sm := range tel.collect(t).ScopeMetrics {
			for _, m := range sm.Metrics {
				for _, set := range metricAttrSets(m) {
					if v, ok := set.Value(semconv.AttrRPCMethod); ok && !slices.Contains(registeredGRPC, v.AsString()) && v.AsString() != semconv.ValueOther {
						t.Fatalf("%s: rpc.method %q is the caller's text", m.Name, v.AsString())
					}
				}
			}
		}
	})
}
