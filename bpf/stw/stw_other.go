//go:build !linux || !(amd64 || arm64)

package stw

import (
	"fmt"

	"github.com/verdict-obs/verdict/bpf"
)

// Options tunes [Open]. A nil *Options means defaults.
type Options struct {
	StopAtFirstInstruction bool
}

// Tracer observes stop-the-world pauses. Only Linux is supported.
type Tracer struct{}

// Open returns an error wrapping [bpf.ErrNotSupported]: uprobes exist only
// on Linux (amd64 and arm64).
func Open(opts *Options) (*Tracer, error) {
	return nil, fmt.Errorf("open stop-the-world tracer: %w", bpf.ErrNotSupported)
}

// Pending returns false.
func (t *Tracer) Pending() bool { return false }

// Drain returns an error wrapping [bpf.ErrNotSupported].
func (t *Tracer) Drain(fn func(Window)) (int, error) {
	return 0, fmt.Errorf("drain stop-the-world windows: %w", bpf.ErrNotSupported)
}

// Stats returns zeros.
func (t *Tracer) Stats() Stats { return Stats{} }

// Close does nothing.
func (t *Tracer) Close() error { return nil }

// MonotonicNow returns 0: there are no windows to compare with.
func MonotonicNow() int64 { return 0 }
