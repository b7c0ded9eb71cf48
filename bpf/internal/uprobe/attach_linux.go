package uprobe

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/internal/gosym"
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
	// The caller keeps ownership: closing the Set does not close it. Load
	// it from a spec passed through [PrepareSpec] so that all probes of the
	// program share one uprobe_multi link.
	Program *ebpf.Program
	// Policy says what happens if the probe cannot be attached.
	Policy FailurePolicy
	// Cookie is what the program reads with bpf_get_attach_cookie (helper
	// 174, Linux 5.15+) at this probe's instructions, so that one program
	// can tell several probes apart. Zero is a valid cookie.
	Cookie uint64
}

// PrepareSpec readies the uprobe programs of spec for [Attach]: when the
// kernel has uprobe_multi links (Linux 6.6+), it sets the AttachType of every
// SEC("uprobe") program to ebpf.AttachTraceUprobeMulti and reports true.
// Attach then puts all instructions probed by one program on a single link.
//
// This matters for Close more than for Attach: detaching a perf-event uprobe
// waits for several RCU grace periods (~100 ms per probed instruction here),
// detaching a uprobe_multi link waits once for all of its instructions. The
// cost of a hit is the same either way.
//
// A nil spec, or a kernel without uprobe_multi, leaves the spec unchanged
// (Attach then uses one perf-event uprobe per instruction) and reports false.
func PrepareSpec(spec *ebpf.CollectionSpec) bool {
	if spec == nil || features.HaveBPFLinkUprobeMulti() != nil {
		return false
	}
	changed := false
	for _, ps := range spec.Programs {
		if ps.Type == ebpf.Kprobe && ps.AttachType == ebpf.AttachNone &&
			(ps.SectionName == "uprobe" || strings.HasPrefix(ps.SectionName, "uprobe/")) {
			ps.AttachType = ebpf.AttachTraceUprobeMulti
			changed = true
		}
	}
	return changed
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
	// Resolve every probe first, so that the probes of one program can be
	// attached together.
	resolved := make([]resolvedProbe, 0, len(probes))
	for _, p := range probes {
		att, fileOff, err := resolve(syms, p)
		if err != nil {
			err = fmt.Errorf("attach uprobe %s (%s): %w", p.Symbol, p.Placement, classify(err))
			if p.Policy == Optional {
				skipped = append(skipped, err)
				continue
			}
			return nil, err
		}
		resolved = append(resolved, resolvedProbe{probe: p, att: att, fileOffset: fileOff})
	}

	multi := features.HaveBPFLinkUprobeMulti() == nil
	for _, group := range byProgram(resolved) {
		var multiErr error
		if multi {
			l, err := attachMulti(ex, resolved, group)
			if err == nil {
				s.links = append(s.links, l)
				for _, i := range group {
					resolved[i].att.Multi, resolved[i].ok = true, true
				}
				continue
			}
			if errors.Is(err, os.ErrPermission) {
				_ = s.Close()
				return nil, fmt.Errorf("attach uprobes on %s: %w", resolved[group[0]].probe.Symbol, classify(err))
			}
			// Most likely the program was not loaded for uprobe_multi
			// (see PrepareSpec): one perf-event uprobe per instruction.
			multiErr = err
		}
		for _, i := range group {
			rp := &resolved[i]
			links, err := attachPerf(ex, rp)
			if err != nil {
				if multiErr != nil { // say why the first way failed too
					err = fmt.Errorf("%w (as uprobe_multi: %w)", err, multiErr)
				}
				err = fmt.Errorf("attach uprobe %s (%s): %w", rp.probe.Symbol, rp.probe.Placement, classify(err))
				if rp.probe.Policy == Optional {
					skipped = append(skipped, err)
					continue
				}
				_ = s.Close()
				return nil, err
			}
			s.links = append(s.links, links...)
			rp.ok = true
		}
	}
	for _, rp := range resolved { // in the order given
		if rp.ok {
			s.attached = append(s.attached, rp.att)
		}
	}
	s.skipped = errors.Join(skipped...)
	return s, nil
}

type resolvedProbe struct {
	probe      Probe
	att        Attachment
	fileOffset uint64
	ok         bool // attached
}

// byProgram groups the probes by program, as indexes into rps, in order of
// first appearance.
func byProgram(rps []resolvedProbe) [][]int {
	var groups [][]int
	index := map[*ebpf.Program]int{}
	for i, rp := range rps {
		g, ok := index[rp.probe.Program]
		if !ok {
			g = len(groups)
			index[rp.probe.Program] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// resolve finds the instructions to probe.
func resolve(syms *gosym.Table, p Probe) (Attachment, uint64, error) {
	if p.Program == nil {
		return Attachment{}, 0, errors.New("nil program")
	}
	fn, err := syms.Lookup(p.Symbol)
	if err != nil {
		return Attachment{}, 0, err
	}
	att := Attachment{Symbol: p.Symbol, Placement: p.Placement, FileOffset: fn.FileOffset}
	switch p.Placement {
	case Entry:
		off, emulated, err := syms.EntryOffset(fn)
		if err != nil {
			return Attachment{}, 0, err
		}
		att.Offsets, att.Emulated = []uint64{off}, emulated
	case EntryFirstInstruction:
		att.Offsets = []uint64{0}
	case Return:
		rets, err := syms.RetOffsets(fn)
		if err != nil {
			return Attachment{}, 0, err
		}
		if len(rets) == 0 {
			return Attachment{}, 0, fmt.Errorf("%s has no RET instruction: %w", p.Symbol, gosym.ErrNotFound)
		}
		att.Offsets = rets
		// RET is single-stepped by the kernel (not among the emulated
		// instructions); return probes belong on rare functions.
	default:
		return Attachment{}, 0, fmt.Errorf("unknown placement %d", int(p.Placement))
	}
	return att, fn.FileOffset, nil
}

// attachMulti attaches every instruction of the group (one program) with
// one uprobe_multi link.
func attachMulti(ex *link.Executable, rps []resolvedProbe, group []int) (link.Link, error) {
	var addrs, cookies []uint64
	for _, i := range group {
		rp := &rps[i]
		for _, off := range rp.att.Offsets {
			addrs = append(addrs, rp.fileOffset+off)
			cookies = append(cookies, rp.probe.Cookie)
		}
	}
	return ex.UprobeMulti(nil, rps[group[0]].probe.Program, &link.UprobeMultiOptions{
		Addresses: addrs,
		Cookies:   cookies,
		PID:       uint32(os.Getpid()), // never omit: see the package doc
	})
}

// attachPerf attaches one perf-event uprobe per instruction.
func attachPerf(ex *link.Executable, rp *resolvedProbe) ([]link.Link, error) {
	links := make([]link.Link, 0, len(rp.att.Offsets))
	for _, off := range rp.att.Offsets {
		l, err := ex.Uprobe(rp.probe.Symbol, rp.probe.Program, &link.UprobeOptions{
			Address: rp.fileOffset,
			Offset:  off,
			Cookie:  rp.probe.Cookie,
			PID:     os.Getpid(), // never omit: see the package doc
		})
		if err != nil {
			closeAll(links)
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}

// closeAll closes the links concurrently: each close may wait for kernel
// grace periods, and concurrent waits overlap.
func closeAll(links []link.Link) error {
	switch len(links) {
	case 0:
		return nil
	case 1:
		return links[0].Close()
	}
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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
	err := closeAll(s.links)
	s.links, s.attached = nil, nil
	return err
}
