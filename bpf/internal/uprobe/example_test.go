package uprobe_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/internal/uprobe"
)

// Attach one program at the entry of a function and another on each of its
// returns, in the running process only. The programs are SEC("uprobe")
// programs loaded by the caller (for example with bpf2go).
func ExampleAttach() {
	var onEntry, onReturn *ebpf.Program // loaded elsewhere

	set, err := uprobe.Attach([]uprobe.Probe{
		{Symbol: "runtime.stopTheWorldWithSema", Placement: uprobe.Entry, Program: onEntry},
		{Symbol: "runtime.startTheWorldWithSema", Placement: uprobe.Return, Program: onReturn},
		{Symbol: "main.optionalHook", Program: onEntry, Policy: uprobe.Optional},
	}, nil)
	switch {
	case errors.Is(err, os.ErrPermission):
		fmt.Println("needs root or CAP_BPF+CAP_PERFMON:", err)
		return
	case errors.Is(err, bpf.ErrNotSupported):
		fmt.Println("cannot work here:", err)
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	defer set.Close()

	for _, a := range set.Attached() {
		fmt.Println(a.Symbol, a.Placement, a.Offsets, "emulated:", a.Emulated)
	}
	if err := set.Skipped(); err != nil {
		fmt.Println("running without:", err)
	}
}

// Prepare a spec before loading it, so that all instructions probed by one
// program share a single uprobe_multi link (fast to detach), and tell the
// probes apart with cookies (bpf_get_attach_cookie in the program).
func ExamplePrepareSpec() {
	var spec *ebpf.CollectionSpec // from a bpf2go loadX() function
	multi := uprobe.PrepareSpec(spec)

	var objs struct {
		Probe *ebpf.Program `ebpf:"probe"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		fmt.Println(err)
		return
	}
	defer objs.Probe.Close()

	set, err := uprobe.Attach([]uprobe.Probe{
		{Symbol: "runtime.stopTheWorldWithSema", Placement: uprobe.Entry, Program: objs.Probe, Cookie: 1},
		{Symbol: "runtime.startTheWorldWithSema", Placement: uprobe.Return, Program: objs.Probe, Cookie: 2},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Close()
	fmt.Println("one link for both:", multi && set.Attached()[0].Multi)
}
