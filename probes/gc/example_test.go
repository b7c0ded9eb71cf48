package gc_test

import (
	"context"
	"log"

	"github.com/verdict-obs/verdict/probes/gc"
)

// The tracer runs the gc probe by itself (tracer.Tracer.GC); built by hand
// without eBPF, it reads the runtime's figures and says what it cannot
// measure.
func Example() {
	p, err := gc.New(gc.WithoutEBPF("not wanted here"))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	s := p.Snapshot()
	log.Printf("%d GC cycles; assists took %.1f%% of the CPU; missing: %s", s.Cycles, 100*s.AssistFraction, s.Unmeasured)
}
