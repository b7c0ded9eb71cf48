//go:build linux && (amd64 || arm64)

package gcassist

import (
	"errors"
	"fmt"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/internal/uprobe"
)

// Symbol is the runtime function probed.
const Symbol = "runtime.gcAssistAlloc"

// Attach cookies telling gc_assist which probe fired (ASSIST_COOKIE_* in
// sched.c).
const (
	cookieEntry  = 1
	cookieReturn = 2
)

// Probes are the attached assist probes. Close detaches them; the Timing
// keeps running.
type Probes struct {
	set *uprobe.Set
}

// Attach attaches the assist probes of t to this process's
// runtime.gcAssistAlloc. The error wraps bpf.ErrNotSupported when the
// function or its instructions cannot be probed here, os.ErrPermission
// when privileges are missing.
func Attach(t *bpf.Timing) (*Probes, error) {
	if t == nil || t.AssistProgram() == nil {
		return nil, fmt.Errorf("attach gc assist probes: no timing programs loaded: %w", bpf.ErrNotSupported)
	}
	prog := t.AssistProgram()
	if err := t.ResetAssists(); err != nil {
		return nil, fmt.Errorf("attach gc assist probes: %w", err)
	}
	set, err := uprobe.Attach([]uprobe.Probe{
		{Symbol: Symbol, Placement: uprobe.Entry, Program: prog, Cookie: cookieEntry, Policy: uprobe.Required},
		{Symbol: Symbol, Placement: uprobe.Return, Program: prog, Cookie: cookieReturn, Policy: uprobe.Required},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("attach gc assist probes: %w", err)
	}
	return &Probes{set: set}, nil
}

// Close detaches the probes. It is idempotent.
func (p *Probes) Close() error {
	if p == nil || p.set == nil {
		return nil
	}
	set := p.set
	p.set = nil
	return errors.Join(set.Close())
}
