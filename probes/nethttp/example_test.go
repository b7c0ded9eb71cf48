package nethttp_test

import (
	"context"
	"fmt"

	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/nethttp"
)

// Outside the tracer (which does this by itself): start the eBPF composite
// first, then the probe on its socket tracer, and register the probe's
// SpanHook with the span pipeline. Without eBPF the probe still starts,
// degraded, and says why.
func ExampleNew() {
	ctx := context.Background()
	e, err := ebpf.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = e.Start(ctx) // without privileges: off, and nethttp runs degraded
	defer e.Shutdown(ctx)

	p, err := nethttp.New(nethttp.WithEBPF(e))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Shutdown(ctx)
	fmt.Println(p.Status()) // "nethttp: on", or "nethttp: degraded: no socket figures on spans: eBPF off: ..."
	s := p.Snapshot()
	fmt.Println(s.Server.Spans, s.Client.Spans)
}
