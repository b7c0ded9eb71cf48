package tcp_test

import (
	"context"
	"fmt"

	"github.com/verdict-obs/verdict/probes/tcp"
)

// A rule that flags peers refusing connections reads the snapshot.
func ExampleProbe_Snapshot() {
	p, err := tcp.New(tcp.WithoutEBPF("disabled by the operator"), tcp.WithTopPeers(10))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Shutdown(context.Background())
	for _, peer := range p.Snapshot().Peers {
		if peer.RefusedRate > 1 {
			fmt.Printf("%s:%d refuses %.1f connects/s\n", peer.Address, peer.Port, peer.RefusedRate)
		}
	}
	fmt.Println(p.Status())
	// Output: tcp: degraded: connect outcomes of verdict's HTTP client only: eBPF off: disabled by the operator
}
