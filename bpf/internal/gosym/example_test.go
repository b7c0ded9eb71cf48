package gosym_test

import (
	"debug/elf"
	"fmt"

	"github.com/verdict-obs/verdict/bpf/internal/gosym"
)

// Resolve a runtime function of the running program, even though "go test"
// binaries carry no ELF symbol table, and find where probes should sit.
func ExampleOpenSelf() {
	tab, err := gosym.OpenSelf()
	if err != nil {
		fmt.Println("no line table:", err)
		return
	}
	defer tab.Close()

	fn, err := tab.Lookup("runtime.startTheWorldWithSema")
	if err != nil {
		fmt.Println(err)
		return
	}
	rets, err := tab.RetOffsets(fn)
	fmt.Println(fn.FileOffset > 0, len(rets) > 0, err)
	// Output: true true <nil>
}

// Where to put an entry probe on a typical Go function prologue (amd64).
func ExampleEntryOffset() {
	code := []byte{
		0x49, 0x3b, 0x66, 0x10, // cmp rsp, [r14+0x10]   stack check
		0x76, 0x1f, // jbe morestack
		0x55,             // push rbp               emulated by the kernel
		0x48, 0x89, 0xe5, // mov rbp, rsp
	}
	off, emulated, err := gosym.EntryOffset(elf.EM_X86_64, code)
	fmt.Println(off, emulated, err)
	// Output: 6 true <nil>
}

// Every RET of a function, found by decoding, not by searching for 0xc3.
func ExampleRetOffsets() {
	code := []byte{
		0xb8, 0xc3, 0x00, 0x00, 0x00, // mov eax, 0xc3
		0xc3, // ret
	}
	rets, err := gosym.RetOffsets(elf.EM_X86_64, code)
	fmt.Println(rets, err)
	// Output: [5] <nil>
}
