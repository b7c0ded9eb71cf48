package middleware

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// FuzzExtract feeds arbitrary header values to the propagator: it must not
// panic, and whatever it accepts must survive an inject/extract round trip
// unchanged.
func FuzzExtract(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7, ,congo=t61rcWkgMzE", "k=v%20w;p=1,x=y")
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "a@b=c", "")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-x", "", "k=%zz")
	p := NewPropagator()
	f.Fuzz(func(t *testing.T, tp, ts, bg string) {
		h := http.Header{}
		h.Set("Traceparent", tp)
		h.Set("Tracestate", ts)
		h.Set("Baggage", bg)
		ctx := p.Extract(context.Background(), propagation.HeaderCarrier(h))
		sc := trace.SpanContextFromContext(ctx)
		b := baggage.FromContext(ctx)
		out := http.Header{}
		p.Inject(ctx, propagation.HeaderCarrier(out))
		ctx2 := p.Extract(context.Background(), propagation.HeaderCarrier(out))
		sc2 := trace.SpanContextFromContext(ctx2)
		if sc.IsValid() != sc2.IsValid() || (sc.IsValid() && !sc.Equal(sc2)) {
			t.Fatalf("span context round trip: %v -> %v (headers %v)", sc, sc2, out)
		}
		if b2 := baggage.FromContext(ctx2); b2.Len() != b.Len() {
			t.Fatalf("baggage round trip: %d -> %d members (%q)", b.Len(), b2.Len(), out.Get("Baggage"))
		}
	})
}
