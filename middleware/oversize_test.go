package middleware

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/w3c"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// hugeTraceState is a tracestate of n valid members, about 10 bytes each.
func hugeTraceState(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "k%d=v%d", i, i)
	}
	return b.String()
}

// hugeBaggage is a baggage of n members with distinct keys.
func hugeBaggage(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "key%d=value", i)
	}
	return b.String()
}

// TestOversizedRequests sends requests with oversized propagation headers
// to a real HTTP server through the middleware. Each gets a clear outcome
// (served, with the header ignored or cut to the W3C limits and the drop
// counted; or refused by net/http before any handler runs), in bounded
// time, and the middleware adds a bounded amount of memory whatever the
// header's size.
func TestOversizedRequests(t *testing.T) {
	tel := newTelemetry(t)
	type seen struct {
		sc      trace.SpanContext
		members int
		bgBytes int
	}
	got := make(chan seen, 1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := baggage.FromContext(r.Context())
		got <- seen{trace.SpanContextFromContext(r.Context()), b.Len(), len(b.String())}
	})
	srv := httptest.NewServer(NewHandler(inner, tel.opts()...))
	defer srv.Close()

	const kb = 1 << 10
	cases := []struct {
		name      string
		header    string
		value     string
		status    int
		continued bool   // the trace of validTP continues
		drop      string // the drop reason counted
		check     func(t *testing.T, s seen)
	}{
		{name: "traceparent 900 KB", header: "Traceparent", value: validTP + strings.Repeat("x", 900*kb),
			status: 200, drop: "invalid_traceparent"},
		{name: "tracestate 10,000 members", header: "Tracestate", value: hugeTraceState(10_000),
			status: 200, continued: true, drop: "invalid_tracestate",
			check: func(t *testing.T, s seen) {
				if n := s.sc.TraceState().Len(); n > w3c.MaxTraceStateMembers {
					t.Errorf("tracestate kept %d members", n)
				}
			}},
		{name: "tracestate one 900 KB value", header: "Tracestate", value: "k=" + strings.Repeat("v", 900*kb),
			status: 200, continued: true, drop: "invalid_tracestate",
			check: func(t *testing.T, s seen) {
				if s.sc.TraceState().Len() != 0 {
					t.Errorf("tracestate kept: %q", s.sc.TraceState().String())
				}
			}},
		{name: "baggage 900 KB of members", header: "Baggage", value: hugeBaggage(70_000),
			status: 200, continued: true, drop: "baggage_limit",
			check: func(t *testing.T, s seen) {
				if s.members != w3c.MaxBaggageMembers || s.bgBytes > w3c.MaxBaggageBytes {
					t.Errorf("baggage kept %d members, %d bytes", s.members, s.bgBytes)
				}
			}},
		{name: "baggage one 900 KB member", header: "Baggage", value: "k=" + strings.Repeat("v", 900*kb),
			status: 200, continued: true, drop: "baggage_limit",
			check: func(t *testing.T, s seen) {
				if s.members != 0 {
					t.Errorf("baggage kept %d members", s.members)
				}
			}},
		{name: "header over net/http's 1 MB limit", header: "Baggage", value: strings.Repeat("k=v,", 300*kb),
			status: http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := dropCounts(tel.collect(t))
			req, _ := http.NewRequest("GET", srv.URL+"/", nil)
			if c.header != "Traceparent" {
				req.Header.Set("Traceparent", validTP)
			}
			req.Header.Set(c.header, c.value)
			start := time.Now()
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			// A liveness bound: net/http reads the header in milliseconds;
			// a parser quadratic in its size would take minutes.
			if took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status != 200 {
				return
			}
			s := <-got
			if cont := s.sc.TraceID().String() == validTP[3:35]; cont != c.continued {
				t.Errorf("trace continued: %v, want %v (%v)", cont, c.continued, s.sc)
			}
			if c.check != nil {
				c.check(t, s)
			}
			after := dropCounts(tel.collect(t))
			if after[c.drop] != before[c.drop]+1 {
				t.Errorf("drop %q: %d -> %d, want one more", c.drop, before[c.drop], after[c.drop])
			}
			t.Logf("%d-byte %s: served in %v", len(c.value), c.header, took.Round(time.Millisecond))
		})
	}
}

// TestOversizedHeadersMemory: what the middleware allocates for a request
// does not grow with the size of its propagation headers (it parses them
// in place and keeps at most the W3C limits).
func TestOversizedHeadersMemory(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tel.opts()...)
	perRequest := func(bg, ts string) uint64 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Traceparent", validTP)
		r.Header.Set("Tracestate", ts)
		r.Header.Set("Baggage", bg)
		w := httptest.NewRecorder()
		const n = 20
		h.ServeHTTP(w, r) // warm up
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for range n {
			h.ServeHTTP(w, r)
		}
		runtime.ReadMemStats(&m1)
		return (m1.TotalAlloc - m0.TotalAlloc) / n
	}
	small := perRequest("k=v", "k=v")
	large := perRequest(hugeBaggage(70_000), hugeTraceState(10_000))
	t.Logf("bytes allocated per request: %d with small headers, %d with 1 MB of baggage and 10,000 tracestate members", small, large)
	// The kept baggage (64 members) costs a few KB more; nothing near the
	// header's size.
	if large > small+64<<10 {
		t.Errorf("%d bytes per request with oversized headers vs %d: grows with the header", large, small)
	}
}
