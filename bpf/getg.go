package bpf

import "github.com/verdict-obs/verdict/bpf/internal/goid"

// getg returns the calling goroutine's key (see package bpf/internal/goid);
// 0 on architectures without one.
func getg() uintptr { return goid.Get() }
