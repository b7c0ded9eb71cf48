package middleware_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/verdict-obs/verdict/middleware"
)

// A server whose spans are named by the ServeMux pattern that matched.
func ExampleNewHandler() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s", r.PathValue("id"))
	})
	srv := httptest.NewServer(middleware.NewHandler(mux)) // span "GET /users/{id}"
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/users/7")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: user 7
}

// A client whose requests carry the trace context and record phases.
func ExampleNewTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	client := &http.Client{Transport: middleware.NewTransport(nil)} // nil: http.DefaultTransport
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close() // ends the client span
	fmt.Println(string(body))
	// Output: ok
}

// A gRPC server instrumented through its stats handler.
func ExampleNewGRPCServerHandler() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := grpc.NewServer(grpc.StatsHandler(middleware.NewGRPCServerHandler()))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(l)
	defer s.Stop()

	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output: SERVING <nil>
}

// A gRPC client instrumented through its stats handler; the trace context
// travels in the request metadata.
func ExampleNewGRPCClientHandler() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(l)
	defer s.Stop()

	cc, err := grpc.NewClient(l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output: SERVING <nil>
}

// The W3C propagator as the process-wide OTel propagator.
func ExampleNewPropagator() {
	p := middleware.NewPropagator()
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ctx := p.Extract(context.Background(), propagation.HeaderCarrier(h))

	out := http.Header{}
	p.Inject(ctx, propagation.HeaderCarrier(out))
	fmt.Println(out.Get("traceparent"))
	// Output: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}

// The zero-allocation traceparent parser.
func ExampleExtractSpanContext() {
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	sc := middleware.ExtractSpanContext(h)
	fmt.Println(sc.TraceID(), sc.SpanID(), sc.IsSampled(), sc.IsRemote())
	// Output: 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 true true
}

// Options: an explicit route function and a bounded series count.
func ExampleWithRouteFunc() {
	h := middleware.NewHandler(http.NotFoundHandler(),
		middleware.WithRouteFunc(func(r *http.Request) string { return "/legacy/*" }),
		middleware.WithMaxSeries(200))
	_ = h
}
