package faults

import (
	"fmt"
	"os"
)

// runChild runs a child mode of the test binary and returns its exit code.
func runChild(mode string) int {
	switch mode {
	case "unprivileged":
		return runUnprivilegedChild()
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}
