//go:build !linux || !(amd64 || arm64)

package sock

import (
	"fmt"

	"github.com/verdict-obs/verdict/bpf"
)

// Tracer measures the process's TCP sockets. Only Linux (amd64, arm64) is
// supported: [Open] fails elsewhere.
type Tracer struct{ *core }

// Open returns an error wrapping [bpf.ErrNotSupported]: the socket programs
// run only on Linux (amd64 and arm64).
func Open(opts *Options) (*Tracer, error) {
	return nil, fmt.Errorf("open socket tracer: %w", bpf.ErrNotSupported)
}

// Close does nothing.
func (t *Tracer) Close() error { return nil }
