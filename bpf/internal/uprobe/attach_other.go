//go:build !linux

package uprobe

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/internal/gosym"
)

// Probe is one uprobe to attach: a program on a function of the own
// executable. Uprobes exist only on Linux.
type Probe struct {
	Symbol    string
	Placement Placement
	Program   *ebpf.Program
	Policy    FailurePolicy
	Cookie    uint64
}

// PrepareSpec leaves spec unchanged and reports false: uprobes exist only on
// Linux.
func PrepareSpec(spec *ebpf.CollectionSpec) bool { return false }

// Options tunes [Attach]. A nil *Options means defaults.
type Options struct {
	Symbols *gosym.Table
}

// Set is a group of attached probes. On this platform it is always empty.
type Set struct{}

// Attach returns an error wrapping [bpf.ErrNotSupported]: uprobes exist only
// on Linux.
func Attach(probes []Probe, opts *Options) (*Set, error) {
	return nil, fmt.Errorf("attach uprobes: %w", bpf.ErrNotSupported)
}

// Attached returns nil.
func (s *Set) Attached() []Attachment { return nil }

// Skipped returns nil.
func (s *Set) Skipped() error { return nil }

// Close does nothing.
func (s *Set) Close() error { return nil }
