package ebpf_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/verdict-obs/verdict/probes/ebpf"
)

// Run the eBPF companion under your own span pipeline: start it, register
// its span hook, read its parts' snapshots. Without privileges, Start fails
// with the reason and the process carries on.
func ExampleNew() {
	p, err := ebpf.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		fmt.Println("eBPF off:", errors.Is(err, os.ErrPermission) || errors.Is(err, errors.ErrUnsupported))
		return
	}
	defer p.Shutdown(ctx)
	if k := p.Kernel(); k != nil {
		fmt.Println(k.Status())
	}
	// (Runs only with privileges, so it has no Output check.)
}
