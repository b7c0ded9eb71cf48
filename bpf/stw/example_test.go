package stw_test

import (
	"fmt"
	"runtime"

	"github.com/verdict-obs/verdict/bpf/stw"
)

// Watch the runtime stop the world during a garbage collection.
func ExampleOpen() {
	tr, err := stw.Open(nil)
	if err != nil {
		fmt.Println("stop-the-world tracing off:", err)
		return
	}
	defer tr.Close()

	runtime.GC()

	// Normally on a timer, or when tr.Pending() says there is something.
	tr.Drain(func(w stw.Window) {
		fmt.Printf("%s: %dns\n", w.Reason, w.Duration())
	})
}
