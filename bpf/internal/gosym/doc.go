// Package gosym finds functions of a Go executable, normally the running
// process's own (/proc/self/exe), through the Go line table (.gopclntab), and
// computes the instruction offsets that uprobes should use.
//
// The ELF symbol table is missing from binaries built by "go run" and
// "go test" and from production builds linked with -ldflags="-s -w"; the Go
// line table is always there, because the runtime itself needs it. [Table]
// resolves a function name to its link-time entry address, its size and the
// file offset that [github.com/cilium/ebpf/link.UprobeOptions.Address]
// expects.
//
// Two instruction-level helpers decide where a probe sits:
//
//   - [EntryOffset] returns the offset of the first instruction of a function
//     that runs exactly once per call and that the kernel emulates instead of
//     single-stepping (on amd64 the "push rbp" after the stack-check
//     prologue). A uprobe there costs about a twelfth of one at the first
//     instruction on the machines this project runs on.
//   - [RetOffsets] returns the offset of every return instruction, so that a
//     "function returned" probe can be placed on each of them. Return probes
//     (uretprobes) must never be used on Go functions: Go moves goroutine
//     stacks and a uretprobe's rewritten return address kills the process.
//
// amd64 is fully supported. On arm64 [RetOffsets] decodes RET instructions
// and [EntryOffset] always answers 0 (not emulated); other architectures get
// errors wrapping [bpf.ErrNotSupported].
package gosym
