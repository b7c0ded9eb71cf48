//go:build !linux || !(amd64 || arm64)

package bpf

import "fmt"

// Timing measures kernel time per span. Not available on this platform:
// [LoadTiming] always fails with [ErrNotSupported].
type Timing struct{}

// LoadTiming reports [ErrNotSupported] on this platform.
func LoadTiming(*TimingOptions) (*Timing, error) {
	return nil, fmt.Errorf("load timing: %w", Check().Err)
}

// Begin reports false.
func (*Timing) Begin([16]byte, [8]byte) bool { return false }

// End reports false.
func (*Timing) End([8]byte) (Counters, bool) { return Counters{}, false }

// EndTree reports false.
func (*Timing) EndTree([8]byte) (Counters, Counters, bool) { return Counters{}, Counters{}, false }

// Totals returns zero.
func (*Timing) Totals() TimingTotals { return TimingTotals{} }

// Stats returns zero.
func (*Timing) Stats() TimingStats { return TimingStats{} }

// Close does nothing.
func (*Timing) Close() error { return nil }

// Syscalls reports false.
func (*Timing) Syscalls() bool { return false }
