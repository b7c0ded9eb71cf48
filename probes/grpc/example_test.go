package grpc_test

import (
	"context"
	"fmt"

	grpcprobe "github.com/verdict-obs/verdict/probes/grpc"
)

// With eBPF off on purpose, the probe runs degraded: gRPC spans get
// verdict.unmeasured with this reason.
func ExampleNew() {
	p, err := grpcprobe.New(grpcprobe.WithoutEBPF("disabled by the operator"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Shutdown(context.Background())
	fmt.Println(p.Status())
	// Output: grpc: degraded: no socket figures on spans: eBPF off: disabled by the operator
}
