// Package uprobe attaches eBPF programs to functions of the running process's
// own executable, safely for Go code.
//
// Probes are declared as data ([Probe]: a Go function name, a [Placement] and
// a [FailurePolicy]) and attached together by [Attach], which resolves the
// names through the Go line table (package [github.com/verdict-obs/verdict/bpf/internal/gosym]),
// so it works in binaries without an ELF symbol table ("go run", "go test",
// -ldflags="-s -w").
//
// The rules it enforces:
//
//   - only the own executable (/proc/self/exe), and always with the PID filter
//     set to the own process: a uprobe belongs to the executable's inode and
//     would otherwise fire in every process running the same binary;
//   - never uretprobes: Go moves goroutine stacks, and the return address a
//     uretprobe rewrites kills the process ("unexpected return pc"). A
//     [Return] probe is a uprobe on every RET instruction instead;
//   - an [Entry] probe sits on the first instruction the kernel emulates
//     (the "push rbp" after the stack check on amd64), about twelve times
//     cheaper than the single-stepped first instruction.
//
// Links: detaching a perf-event uprobe waits for about three RCU tasks-trace
// grace periods in the kernel (~100 ms per probed instruction on our
// machines), so a Set of a few probes took hundreds of milliseconds to
// Close. A program loaded from a spec passed through [PrepareSpec] (Linux
// 6.6+) gets all its instructions on one uprobe_multi link, which detaches
// with one grace period; [Probe.Cookie] lets one program tell its probes
// apart. Other programs, and older kernels, get one perf-event uprobe per
// instruction. The cost of a hit is the same either way.
//
// Failures wrap [bpf.ErrNotSupported] (cannot work here) or [os.ErrPermission]
// (missing privileges); callers test with errors.Is.
package uprobe
