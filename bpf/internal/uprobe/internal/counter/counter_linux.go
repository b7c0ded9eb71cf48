//go:build linux && (amd64 || arm64)

package counter

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Objects is the loaded counter program with its counters.
type Objects struct{ objs counterObjects }

// Load loads the program; hits from process tgid count as own.
func Load(tgid uint32) (*Objects, error) {
	spec, err := Spec()
	if err != nil {
		return nil, err
	}
	return LoadSpec(spec, tgid)
}

// Spec returns the program's spec, for changes before LoadSpec.
func Spec() (*ebpf.CollectionSpec, error) { return loadCounter() }

// LoadSpec loads the program from spec (from Spec); hits from process tgid
// count as own.
func LoadSpec(spec *ebpf.CollectionSpec, tgid uint32) (*Objects, error) {
	if err := spec.Variables[counterVarTargetTgid].Set(tgid); err != nil {
		return nil, err
	}
	o := &Objects{}
	if err := spec.LoadAndAssign(&o.objs, nil); err != nil {
		return nil, fmt.Errorf("load counter: %w", err)
	}
	return o, nil
}

// Program is the uprobe program.
func (o *Objects) Program() *ebpf.Program { return o.objs.Count }

// Counts returns own and foreign hits.
func (o *Objects) Counts() (own, foreign uint64) {
	_ = o.objs.Hits.Get(&own)
	_ = o.objs.Foreign.Get(&foreign)
	return own, foreign
}

// CookieCounts returns own hits by attach cookie; index 3 also counts
// cookies above 3.
func (o *Objects) CookieCounts() (c [4]uint64) {
	_ = o.objs.CookieHits.Get(&c)
	return c
}

// Reset zeroes the counters.
func (o *Objects) Reset() {
	_ = o.objs.Hits.Set(uint64(0))
	_ = o.objs.Foreign.Set(uint64(0))
	_ = o.objs.CookieHits.Set([4]uint64{})
}

// Close releases the program and its maps.
func (o *Objects) Close() error { return o.objs.Close() }
