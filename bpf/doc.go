// Package bpf is verdict's kernel mechanism: it loads and attaches the eBPF
// programs and uprobes that observe the process itself, owns their maps and
// readers, resolves the process's own functions through the Go line table,
// and runs the preflight checks that say whether any of it can work here.
//
// It knows nothing of OpenTelemetry; probes turn what it measures into span
// attributes and metrics. Every failure to run wraps [ErrNotSupported] or
// [os.ErrPermission].
package bpf
