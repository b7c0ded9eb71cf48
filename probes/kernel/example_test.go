package kernel_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/probes/kernel"
)

func ExampleNew() {
	p, err := kernel.New(kernel.WithMeterProvider(otel.GetMeterProvider()))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(context.Background()); err != nil {
		// The process keeps running without kernel attributes.
		switch {
		case errors.Is(err, os.ErrPermission):
			fmt.Println("not permitted:", p.Status().Reason)
		case errors.Is(err, bpf.ErrNotSupported):
			fmt.Println("not supported:", p.Status().Reason)
		}
		return
	}
	defer p.Shutdown(context.Background())
	// Register p as a spanhook.Hook with the span pipeline: every span then
	// carries verdict.kernel.* attributes.
	fmt.Println(p.Status())
}
