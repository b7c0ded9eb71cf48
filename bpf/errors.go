package bpf

import (
	"errors"
	"fmt"
)

// ErrNotSupported is returned (wrapped) whenever eBPF cannot run here: not
// Linux, no BTF, kernel feature missing. It wraps [errors.ErrUnsupported].
// Missing privileges are reported with errors that wrap [os.ErrPermission].
var ErrNotSupported = fmt.Errorf("verdict/bpf: not supported: %w", errors.ErrUnsupported)
