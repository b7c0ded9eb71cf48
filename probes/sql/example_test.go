package sql_test

import (
	"context"
	"fmt"

	sqlprobe "github.com/verdict-obs/verdict/probes/sql"
)

// The snapshot splits the database calls into pool wait, wire time and
// client-side time.
func ExampleProbe_Snapshot() {
	p, err := sqlprobe.New(sqlprobe.WithoutEBPF("disabled by the operator"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Shutdown(context.Background())
	s := p.Snapshot()
	wire := s.Calls.ReadWait + s.Calls.WriteWait
	fmt.Println("pool", s.PoolWait, "wire", wire, "client", s.Calls.Self, "unmeasured", s.Calls.Unmeasured)
	// Output: pool 0s wire 0s client 0s unmeasured 0
}
