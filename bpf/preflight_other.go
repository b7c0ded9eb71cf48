//go:build !linux || !(amd64 || arm64)

package bpf

import (
	"fmt"
	"runtime"
)

// Check runs the preflight checks once and returns the cached result.
// Safe for concurrent use.
func Check() Preflight {
	reason := "eBPF needs Linux on amd64 or arm64, this is " + runtime.GOOS + "/" + runtime.GOARCH
	return Preflight{
		UnprivilegedBPFDisabled: -1,
		Reason:                  reason,
		Err:                     fmt.Errorf("preflight: %s: %w", reason, ErrNotSupported),
	}
}
