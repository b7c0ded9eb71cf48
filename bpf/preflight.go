package bpf

import "strings"

// Preflight says whether verdict's eBPF programs can run in this process and,
// if not, why. Get it from [Check]; the zero value means "not checked".
type Preflight struct {
	// Linux is true on Linux on an architecture verdict has programs for
	// (amd64, arm64).
	Linux bool
	// BTF is true when the kernel exposes its type information
	// (/sys/kernel/btf/vmlinux), which CO-RE relocation needs.
	BTF bool
	// CapBPF, CapPerfmon and CapSysAdmin are the effective capabilities of
	// the process. Loading tracing programs needs CAP_BPF and CAP_PERFMON, or
	// CAP_SYS_ADMIN.
	CapBPF, CapPerfmon, CapSysAdmin bool
	// UnprivilegedBPFDisabled is kernel.unprivileged_bpf_disabled (0, 1, 2),
	// or -1 when it could not be read.
	UnprivilegedBPFDisabled int
	// Lockdown is the kernel lockdown mode ("none", "integrity",
	// "confidentiality"), or "" when unknown (securityfs not mounted).
	// "confidentiality" forbids reading kernel memory from eBPF.
	Lockdown string
	// RawTracepoint, Mmapable and RingBuf report kernel support for raw
	// tracepoint programs, memory-mapped array maps and the BPF ring buffer.
	// They are probed only when the capabilities are present. (The timing
	// programs are BTF-enabled raw tracepoints, tp_btf; preflight checks
	// for the helpers they need, loading checks the rest.)
	RawTracepoint, Mmapable, RingBuf bool

	// Reason is a short human reason why eBPF cannot run ("missing CAP_BPF
	// and CAP_PERFMON (or CAP_SYS_ADMIN)"), empty when it can.
	Reason string
	// Err is nil when eBPF can run; otherwise it wraps [ErrNotSupported]
	// (the kernel or platform lacks something) or [os.ErrPermission] (the
	// process lacks privileges). Its message contains Reason.
	Err error
}

// OK reports whether every check passed.
func (p Preflight) OK() bool { return p.Err == nil }

// Reason returns the human part of an error from this package, without the
// sentinel texts ("missing CAP_BPF ...", "calibration: the kernel
// attributed 0 of 64 system calls ..."). For preflight failures it is
// [Preflight.Reason].
func Reason(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if p := Check(); p.Err != nil && strings.Contains(s, p.Reason) {
		return p.Reason
	}
	sentinel := ErrNotSupported.Error()
	s = strings.ReplaceAll(s, sentinel+": ", "")
	s = strings.ReplaceAll(s, ": "+sentinel, "")
	return s
}
