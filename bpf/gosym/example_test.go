package gosym_test

import (
	"fmt"

	"github.com/verdict-obs/verdict/bpf/gosym"
)

// Resolve a runtime function of the running program, even though "go test"
// binaries carry no ELF symbol table, and find where probes should sit.
func ExampleOpenSelf() {
	tab, err := gosym.OpenSelf()
	if err != nil {
		fmt.Println("no line table:", err)
		return
	}
	defer tab.Close()

	fn, err := tab.Lookup("runtime.startTheWorldWithSema")
	if err != nil {
		fmt.Println(err)
		return
	}
	rets, err := tab.RetOffsets(fn)
	fmt.Println(fn.FileOffset > 0, len(rets) > 0, err)
	// Output: true true <nil>
}
