//go:build !linux || !(amd64 || arm64)

package gcassist

import (
	"fmt"

	"github.com/verdict-obs/verdict/bpf"
)

// Symbol is the runtime function probed.
const Symbol = "runtime.gcAssistAlloc"

// Probes are the attached assist probes; not available on this platform.
type Probes struct{}

// Attach reports bpf.ErrNotSupported on this platform.
func Attach(*bpf.Timing) (*Probes, error) {
	return nil, fmt.Errorf("attach gc assist probes: %w", bpf.ErrNotSupported)
}

// Close does nothing.
func (*Probes) Close() error { return nil }
