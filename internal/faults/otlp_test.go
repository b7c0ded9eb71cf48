package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/otlptest"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/tracer"
)

// received counts the distinct spans the receivers got (an export retried
// after a lost answer may arrive twice).
func received(rcvs ...*otlptest.Receiver) int {
	seen := map[string]bool{}
	for _, r := range rcvs {
		for _, s := range r.Spans() {
			seen[string(s.GetSpanId())] = true
		}
	}
	return len(seen)
}

// exportBound is OTEL_EXPORTER_OTLP_TIMEOUT where the endpoint answers in
// time: generous, so that an export the receiver took does not time out on
// a loaded machine under -race (it would then count as dropped although it
// arrived; see checkAccounting).
const (
	exportBound         = "3000"
	exportBoundDuration = 3 * time.Second
)

// checkAccounting asserts that no span was lost uncounted: every span
// produced was received or counted as dropped, and none was invented.
// Exactly one of the two is expected; a span can be both when its export
// timed out after the receiver took it (the exporter cannot know), which
// is logged, not failed.
func checkAccounting(t *testing.T, produced, got int, dropped uint64) {
	t.Helper()
	switch {
	case got > produced:
		t.Errorf("received %d distinct spans, only %d produced", got, produced)
	case got+int(dropped) < produced:
		t.Errorf("received %d + dropped %d < %d produced: spans lost uncounted", got, dropped, produced)
	case got+int(dropped) > produced:
		t.Logf("%d spans counted as dropped although they arrived (an export timed out after the receiver took it)", got+int(dropped)-produced)
	}
}

// An OTLP endpoint that accepts connections and never answers: the host
// serves every request, the heap stays bounded, Status says why spans are
// lost, and after Shutdown every span is accounted as dropped.
func TestOTLPBlackholed(t *testing.T) {
	for _, protocol := range []string{tracer.ProtocolGRPC, tracer.ProtocolHTTPProtobuf} {
		t.Run(protocol, func(t *testing.T) {
			otlpEnv(t)
			tr := startTracer(t, nil, tracer.WithOTLPEndpoint("http://"+blackhole(t)), tracer.WithOTLPProtocol(protocol))
			svc := newService(t, tr)
			before := liveHeap()
			const n = 3000
			served := svc.load(t, 8, n)
			growth := liveHeap() - before
			c := waitStatus(t, tr, "traces", 10*time.Second, degraded("exporter unavailable"))
			t.Logf("%d requests served with the endpoint blackholed; live heap grew %s; status: %s", served, mb(growth), c)
			if !strings.Contains(c.Reason, "deadline exceeded") && !strings.Contains(c.Reason, "DeadlineExceeded") && !strings.Contains(c.Reason, "Timeout") {
				t.Errorf("the reason does not say the export timed out: %q", c.Reason)
			}
			// The queue holds at most 2048 spans plus a batch in flight.
			if growth > 32<<20 {
				t.Errorf("live heap grew %s", mb(growth))
			}
			dropped, err := shutdown(t, tr, time.Second)
			if dropped != uint64(served) {
				t.Errorf("dropped %d of %d spans, none exported: spans lost uncounted (Shutdown: %v)", dropped, served, err)
			}
		})
	}
}

// The endpoint refuses (gRPC Unavailable / HTTP 503), then answers after
// the export timeout, then answers in time: drops are counted in each bad
// phase with the cause in Status, export resumes, and received plus
// dropped is every span.
func TestOTLPRefusingThenSlowThenHealthy(t *testing.T) {
	for _, protocol := range []string{tracer.ProtocolGRPC, tracer.ProtocolHTTPProtobuf} {
		t.Run(protocol, func(t *testing.T) {
			otlpEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", exportBound)
			rcv, err := otlptest.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer rcv.Close()
			endpoint := rcv.GRPCEndpoint()
			if protocol != tracer.ProtocolGRPC {
				endpoint = rcv.HTTPEndpoint()
			}
			tr := startTracer(t, nil, tracer.WithOTLPEndpoint(endpoint), tracer.WithOTLPProtocol(protocol))
			svc := newService(t, tr)
			flush := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*exportBoundDuration)
				defer cancel()
				return tr.ForceFlush(ctx)
			}
			total := 0

			rcv.Refuse(true)
			total += svc.load(t, 4, 500)
			_ = flush()
			// The OTLP/HTTP exporter retries a 503 until the export bound:
			// its error is then the refusal or, when the bound passes during
			// a retry, the deadline.
			c := waitStatus(t, tr, "traces", 10*time.Second, degraded("Unavailable", "503", "refusing requests", "deadline exceeded"))
			t.Logf("refusing: %s", c)
			refusedDrops := c.Dropped
			if refusedDrops == 0 {
				t.Error("nothing counted while the endpoint refused")
			}

			rcv.Refuse(false)
			rcv.SetDelay(2 * exportBoundDuration) // beyond the export bound
			total += svc.load(t, 4, 500)
			_ = flush()
			c = waitStatus(t, tr, "traces", 10*time.Second, func(c tracer.Component) bool {
				return c.Dropped > refusedDrops && c.State == probes.StateDegraded
			})
			t.Logf("slow: %s", c)

			rcv.SetDelay(20 * time.Millisecond) // within the bound
			deadline := time.Now().Add(20 * time.Second)
			for flush() != nil && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			total += svc.load(t, 4, 500)
			if err := flush(); err != nil {
				t.Errorf("export did not resume: %v", err)
			}
			c = waitStatus(t, tr, "traces", 10*time.Second, func(c tracer.Component) bool { return c.State == probes.StateOn })
			t.Logf("healthy again: %s", c)

			dropped, _ := shutdown(t, tr, 2*time.Second)
			got := received(rcv)
			t.Logf("%d spans: %d received, %d dropped", total, got, dropped)
			checkAccounting(t, total, got, dropped)
			if got < 500 {
				t.Errorf("received %d spans, want at least the healthy phase's 500", got)
			}
		})
	}
}

// The collector is killed mid-run and restarted on the same port: requests
// are served throughout, spans of the gap are counted as dropped with the
// cause in Status, export resumes by itself, and received plus dropped is
// every span.
func TestCollectorKilledAndRestarted(t *testing.T) {
	for _, protocol := range []string{tracer.ProtocolGRPC, tracer.ProtocolHTTPProtobuf} {
		t.Run(protocol, func(t *testing.T) {
			otlpEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", exportBound)
			first, err := otlptest.Start()
			if err != nil {
				t.Fatal(err)
			}
			endpoint := first.GRPCEndpoint()
			if protocol != tracer.ProtocolGRPC {
				endpoint = first.HTTPEndpoint()
			}
			tr := startTracer(t, nil, tracer.WithOTLPEndpoint(endpoint), tracer.WithOTLPProtocol(protocol))
			svc := newService(t, tr)
			flush := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*exportBoundDuration)
				defer cancel()
				return tr.ForceFlush(ctx)
			}
			total := svc.load(t, 4, 500)
			if err := flush(); err != nil {
				t.Fatal(err)
			}
			grpcAddr, httpAddr := first.GRPCAddr(), first.HTTPAddr()
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}

			total += svc.load(t, 4, 500) // the gap
			_ = flush()
			c := waitStatus(t, tr, "traces", 10*time.Second, degraded("refused", "Unavailable", "EOF", "reset"))
			t.Logf("collector down: %s", c)

			second, err := otlptest.StartWith(otlptest.Options{GRPCAddr: grpcAddr, HTTPAddr: httpAddr})
			restarted := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			// Traffic goes on and nothing nudges the exporter: the batcher
			// retries after its backoff (at most 30 s), gRPC reconnects
			// after its own (at most 5 s). The first export after the
			// restart may still see the old connection error.
			for len(second.Spans()) == 0 {
				if time.Since(restarted) > 90*time.Second {
					c, _ := tr.Status().Component("traces")
					t.Fatalf("no span reached the restarted collector in 90 s: %s", c)
				}
				total += svc.load(t, 4, 20)
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("export resumed %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
			total += svc.load(t, 4, 500)
			c = waitStatus(t, tr, "traces", 30*time.Second, func(c tracer.Component) bool { return c.State == probes.StateOn })
			t.Logf("collector back: %s", c)

			dropped, _ := shutdown(t, tr, 2*time.Second)
			got := received(first, second)
			t.Logf("%d spans: %d received (%d before the kill, %d after the restart), %d dropped", total, got, received(first), received(second), dropped)
			checkAccounting(t, total, got, dropped)
			if dropped == 0 {
				t.Error("no drop counted for the gap")
			}
		})
	}
}
