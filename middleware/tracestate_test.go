package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// The W3C trace-context suite's Level 2 tracestate cases, end to end: a
// request with the headers reaches a service built from NewHandler whose
// handler calls a second server through NewTransport; the second server
// must see the same trace and the tracestate the specification says
// (duplicates dropped, keys of the current grammar kept even where
// OpenTelemetry's TraceState refuses them).
var level2Cases = []struct {
	name  string
	in    []string
	want  string // tracestate at the next hop; "" for none
	valid bool
}{
	{"duplicated_keys", []string{"foo=1,foo=1"}, "foo=1", true},
	{"duplicated_keys_other_value", []string{"foo=1,foo=2"}, "foo=1", true},
	{"duplicated_keys_two_headers", []string{"foo=1", "foo=2"}, "foo=1", true},
	{"key_vendor_format_trailing_at", []string{"foo@=1,bar=2"}, "foo@=1,bar=2", true},
	{"key_vendor_format_leading_at", []string{"@foo=1,bar=2"}, "", false},
	{"key_vendor_format_two_at", []string{"foo@@bar=1,bar=2"}, "foo@@bar=1,bar=2", true},
	{"key_vendor_format_at_twice", []string{"foo@bar@baz=1,bar=2"}, "foo@bar@baz=1,bar=2", true},
	{"key_length_256", []string{"foo=1", strings.Repeat("z", 256) + "=1"}, "foo=1," + strings.Repeat("z", 256) + "=1", true},
	{"key_length_257", []string{"foo=1", strings.Repeat("z", 257) + "=1"}, "", false},
	{"key_tenant_241_vendor_14", []string{"foo=1", strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14) + "=1"}, "foo=1," + strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14) + "=1", true},
	{"key_tenant_242", []string{"foo=1", strings.Repeat("t", 242) + "@v=1"}, "foo=1," + strings.Repeat("t", 242) + "@v=1", true},
	{"key_vendor_15", []string{"foo=1", "t@" + strings.Repeat("v", 15) + "=1"}, "foo=1,t@" + strings.Repeat("v", 15) + "=1", true},
	{"mixed_with_duplicates", []string{"1a=x,rojo=1", "rojo=2,congo=3,1a=y"}, "1a=x,rojo=1,congo=3", true},
	{"value_illegal", []string{"foo=,bar=3"}, "", false},
}

const level2TraceParent = "00-12345678901234567890123456789012-1234567890123456-01"

func TestTraceStateLevel2EndToEnd(t *testing.T) {
	for _, variant := range []struct {
		name string
		opts func(*telemetry) []Option
	}{
		{"sdk", func(tel *telemetry) []Option { return tel.opts() }},
		{"global-noop", func(*telemetry) []Option { return nil }},
	} {
		t.Run(variant.name, func(t *testing.T) {
			tel := newTelemetry(t)
			opts := variant.opts(tel)
			got := make(chan http.Header, 1)
			next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Clone()
			}))
			defer next.Close()
			client := &http.Client{Transport: NewTransport(nil, opts...)}
			svc := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, next.URL, nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}), opts...))
			defer svc.Close()
			defer client.CloseIdleConnections()

			for _, tc := range level2Cases {
				req, _ := http.NewRequest(http.MethodGet, svc.URL, nil)
				req.Header.Set("traceparent", level2TraceParent)
				for _, v := range tc.in {
					req.Header.Add("tracestate", v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				h := <-got
				if tp := h.Get("traceparent"); !strings.HasPrefix(tp, "00-12345678901234567890123456789012-") {
					t.Errorf("%s: traceparent at the next hop %q", tc.name, tp)
				}
				if ts := strings.Join(h.Values("tracestate"), ","); ts != tc.want {
					t.Errorf("%s: tracestate at the next hop %q, want %q", tc.name, ts, tc.want)
				}
			}
		})
	}
}

// TestTraceStateModifiedByVendor: a service that changes its span's
// TraceState (a vendor inserting its member) sends that, followed by the
// received members TraceState could not hold.
func TestTraceStateModifiedByVendor(t *testing.T) {
	tel := newTelemetry(t)
	got := make(chan http.Header, 1)
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer next.Close()
	client := &http.Client{Transport: NewTransport(nil, tel.opts()...)}
	defer client.CloseIdleConnections()
	svc := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := trace.SpanContextFromContext(r.Context())
		ts, err := sc.TraceState().Insert("congo", "t61rcWkgMzE")
		if err != nil {
			t.Error(err)
		}
		ctx := trace.ContextWithSpanContext(r.Context(), sc.WithTraceState(ts))
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}), tel.opts()...))
	defer svc.Close()
	req, _ := http.NewRequest(http.MethodGet, svc.URL, nil)
	req.Header.Set("traceparent", level2TraceParent)
	req.Header.Set("tracestate", "foo@=1,rojo=00f067aa0ba902b7,1x=2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ts := (<-got).Get("tracestate"); ts != "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,foo@=1,1x=2" {
		t.Errorf("tracestate at the next hop %q", ts)
	}
}

// TestTraceStateLevel2GRPC: the same through the gRPC handlers, server
// then client.
func TestTraceStateLevel2GRPC(t *testing.T) {
	tel := newTelemetry(t)
	gotMD := make(chan metadata.MD, 1)
	nextAddr := startGRPC(t, tel, &mdService{got: gotMD})
	next := dialGRPC(t, tel, nextAddr)
	// The first hop sends the headers as they are: a client without the
	// middleware.
	cc, err := grpc.NewClient(startGRPC(t, tel, &relayService{next: next}), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	relay := grpc_testing.NewTestServiceClient(cc)
	for _, tc := range level2Cases {
		md := metadata.MD{"traceparent": {level2TraceParent}, "tracestate": tc.in}
		if _, err := relay.EmptyCall(metadata.NewOutgoingContext(context.Background(), md), &grpc_testing.Empty{}); err != nil {
			t.Fatal(err)
		}
		got := <-gotMD
		if tp := got.Get("traceparent"); len(tp) != 1 || !strings.HasPrefix(tp[0], "00-12345678901234567890123456789012-") {
			t.Errorf("%s: traceparent at the next hop %q", tc.name, tp)
		}
		if ts := strings.Join(got.Get("tracestate"), ","); ts != tc.want {
			t.Errorf("%s: tracestate at the next hop %q, want %q", tc.name, ts, tc.want)
		}
	}
}

type relayService struct {
	grpc_testing.UnimplementedTestServiceServer
	next grpc_testing.TestServiceClient
}

func (s *relayService) EmptyCall(ctx context.Context, e *grpc_testing.Empty) (*grpc_testing.Empty, error) {
	return s.next.EmptyCall(ctx, e)
}
