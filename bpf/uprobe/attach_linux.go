package uprobe

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/gosym"
)

// selfExe names the running executable. The kernel resolves the magic link
// to the executable's inode when the probe is created.
const selfExe = "/proc/self/exe"

// Probe is one uprobe to attach: a program on a function of the own
// executable.
type Probe struct {
	// Symbol is the fully qualified Go name of the function, e.g.
	// "runtime.stopTheWorldWithSema".
	Symbol string
	// Placement says where in the function the program runs.
	Placement Placement
	// Program is a loaded program of type ebpf.Kprobe (SEC("uprobe")).
	// The caller keeps ownership: closing the Set does not close it.
	Program *ebpf.Program
	// Policy says what happens if the probe cannot be attached.
	Policy FailurePolicy
}

// Options tunes [Attach]. A nil *Options means defaults.
type Options struct {
	// Symbols resolves function names; it must come from gosym.OpenSelf
	// (tables opened by path are not calibrated against the running
	// code). Nil means a table opened for the duration of the call; pass
	// one to share it between calls.
	Symbols *gosym.Table
}

// Set is a group of attached probes. Close releases them all.
//
// Methods are safe for concurrent use.
type Set struct {
	mu       sync.Mutex
	links    []link.Link
	attached []Attachment
	skipped  error
}

// Attach attaches every probe to the running process's own executable, with
// the PID filter set to this process, and returns the set of links.
//
// A probe whose Policy is [Required] and that cannot be attached makes
// Attach fail and release everything attached so far; an [Optional] one is
// skipped and reported by [Set.Skipped]. Errors wrap bpf.ErrNotSupported
// when uprobes cannot work here (no such function, no uprobe support,
// unsupported architecture) and os.ErrPermission when privileges are
// missing.
func Attach(probes []Probe, opts *Options) (*Set, error) {
	if opts == nil {
		opts = &Options{}
	}
	syms := opts.Symbols
	if syms == nil {
		t, err := gosym.OpenSelf()
		if err != nil {
			return nil, fmt.Errorf("attach uprobes: %w", classify(err))
		}
		defer t.Close()
		syms = t
	}
	ex, err := link.OpenExecutable(selfExe)
	if err != nil {
		return nil, fmt.Errorf("attach uprobes: %w", classify(err))
	}

	s := &Set{}
	var skipped []error
	for _, p := range probes {
		att, links, err := attachOne(ex, syms, p)
		if err != nil {
			err = fmt.Errorf("attach uprobe %s (%s): %w", p.Symbol, p.Placement, classify(err))
			if p.Policy == Optional {
				skipped = append(skipped, err)
				continue
			}
			_ = s.Close()
			return nil, err
		}
		s.links = append(s.links, links...)
		s.attached = append(s.attached, att)
	}
	s.skipped = errors.Join(skipped...)
	return s, nil
}

func attachOne(ex *link.Executable, syms *gosym.Table, p Probe) (Attachment, []link.Link, error) {
	if p.Program == nil {
		return Attachment{}, nil, errors.New("nil program")
	}
	fn, err := syms.Lookup(p.Symbol)
	if err != nil {
		return Attachment{}, nil, err
	}
	att := Attachment{Symbol: p.Symbol, Placement: p.Placement, FileOffset: fn.FileOffset}
	switch p.Placement {
	case Entry:
		off, emulated, err := syms.EntryOffset(fn)
		if err != nil {
			return Attachment{}, nil, err
		}
		att.Offsets, att.Emulated = []uint64{off}, emulated
	case EntryFirstInstruction:
		att.Offsets = []uint64{0}
	case Return:
		rets, err := syms.RetOffsets(fn)
		if err != nil {
			return Attachment{}, nil, err
		}
		if len(rets) == 0 {
			return Attachment{}, nil, fmt.Errorf("%s has no RET instruction: %w", p.Symbol, gosym.ErrNotFound)
		}
		att.Offsets = rets
		// RET is single-stepped by the kernel (not among the emulated
		// instructions); return probes belong on rare functions.
	default:
		return Attachment{}, nil, fmt.Errorf("unknown placement %d", int(p.Placement))
	}

	links := make([]link.Link, 0, len(att.Offsets))
	for _, off := range att.Offsets {
		l, err := ex.Uprobe(p.Symbol, p.Program, &link.UprobeOptions{
			Address: fn.FileOffset,
			Offset:  off,
			PID:     os.Getpid(), // never omit: see the package doc
		})
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			return Attachment{}, nil, err
		}
		links = append(links, l)
	}
	return att, links, nil
}

// classify makes sure an error from below wraps one of the two sentinels
// callers test for, when it means one of them.
func classify(err error) error {
	switch {
	case errors.Is(err, bpf.ErrNotSupported), errors.Is(err, os.ErrPermission):
		return err
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, gosym.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", bpf.ErrNotSupported, err)
	}
	return err
}

// Attached describes the attached probes, in the order given to Attach.
func (s *Set) Attached() []Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attachment(nil), s.attached...)
}

// Skipped returns the joined reasons why Optional probes were not attached,
// or nil when all were.
func (s *Set) Skipped() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// Close detaches every probe. It is idempotent; after Close the Set
// describes nothing.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, l := range s.links {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.links, s.attached = nil, nil
	return errors.Join(errs...)
}
