//go:build !linux

package monoclock

// Now returns ErrUnsupported: CLOCK_MONOTONIC is read only on Linux,
// where the kernel programs that use it run.
func Now() (int64, error) { return 0, ErrUnsupported }
