//go:build linux && (amd64 || arm64)

package bpf

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// Capability numbers (linux/capability.h); CAP_BPF and CAP_PERFMON exist
// since Linux 5.8.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

var checkOnce = sync.OnceValue(check)

// Check runs the preflight checks once and returns the cached result.
// Safe for concurrent use.
func Check() Preflight { return checkOnce() }

func check() Preflight {
	p := Preflight{Linux: true, UnprivilegedBPFDisabled: -1}
	var unsupported, denied []string

	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil {
		p.BTF = true
	} else {
		unsupported = append(unsupported, "kernel without BTF (/sys/kernel/btf/vmlinux missing)")
	}

	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_bpf_disabled"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			p.UnprivilegedBPFDisabled = v
		}
	}

	if b, err := os.ReadFile("/sys/kernel/security/lockdown"); err == nil {
		p.Lockdown = lockdownMode(string(b))
		if p.Lockdown == "confidentiality" {
			unsupported = append(unsupported, "kernel lockdown=confidentiality forbids eBPF tracing")
		}
	}

	if err := capabilities(&p); err != nil {
		denied = append(denied, "capabilities unreadable: "+err.Error())
	} else if !(p.CapBPF && p.CapPerfmon) && !p.CapSysAdmin {
		var missing []string
		if !p.CapBPF {
			missing = append(missing, "CAP_BPF")
		}
		if !p.CapPerfmon {
			missing = append(missing, "CAP_PERFMON")
		}
		r := "missing " + strings.Join(missing, " and ") + " (or CAP_SYS_ADMIN)"
		if p.UnprivilegedBPFDisabled > 0 {
			r += fmt.Sprintf(", kernel.unprivileged_bpf_disabled=%d", p.UnprivilegedBPFDisabled)
		}
		denied = append(denied, r)
	}

	// Feature probes create programs and maps: only meaningful with privileges.
	if len(denied) == 0 && len(unsupported) == 0 {
		p.RawTracepoint = features.HaveProgramType(ebpf.RawTracepoint) == nil
		p.Mmapable = features.HaveMapFlag(features.BPF_F_MMAPABLE) == nil
		p.RingBuf = features.HaveMapType(ebpf.RingBuf) == nil
		if !p.RawTracepoint {
			unsupported = append(unsupported, "kernel without raw tracepoint programs")
		}
		if !p.Mmapable {
			unsupported = append(unsupported, "kernel without memory-mapped BPF maps (Linux 5.5+)")
		}
		if features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnGetNsCurrentPidTgid) != nil {
			unsupported = append(unsupported, "kernel without bpf_get_ns_current_pid_tgid (Linux 5.7+)")
		}
		// The programs are BTF-enabled raw tracepoints (tp_btf). cilium/ebpf
		// probes the Tracing type through fentry, which can be missing
		// where tp_btf works; the helper below arrived with what we need.
		if features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnGetCurrentTaskBtf) != nil {
			unsupported = append(unsupported, "kernel without bpf_get_current_task_btf (Linux 5.11+)")
		}
	}

	switch {
	case len(unsupported) > 0:
		p.Reason = strings.Join(append(unsupported, denied...), "; ")
		p.Err = fmt.Errorf("preflight: %s: %w", p.Reason, ErrNotSupported)
	case len(denied) > 0:
		p.Reason = strings.Join(denied, "; ")
		p.Err = fmt.Errorf("preflight: %s: %w", p.Reason, os.ErrPermission)
	}
	return p
}

// lockdownMode extracts the selected mode from "none [integrity] confidentiality".
func lockdownMode(s string) string {
	i := strings.IndexByte(s, '[')
	j := strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

func capabilities(p *Preflight) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	p.CapSysAdmin = has(capSysAdmin)
	p.CapPerfmon = has(capPerfmon)
	p.CapBPF = has(capBPF)
	return nil
}
