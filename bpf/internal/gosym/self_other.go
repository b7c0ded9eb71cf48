//go:build !linux

package gosym

import (
	"fmt"

	"github.com/verdict-obs/verdict/bpf"
)

// OpenSelf parses the Go line table of the running executable. Only Linux
// is supported: elsewhere it returns an error wrapping [bpf.ErrNotSupported].
func OpenSelf() (*Table, error) {
	return nil, fmt.Errorf("open own executable: %w", bpf.ErrNotSupported)
}
