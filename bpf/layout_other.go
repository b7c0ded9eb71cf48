//go:build !(linux && (386 || amd64 || arm64))

package bpf

import "structs"

// Where bpf2go's output does not build (no kernel programs run), a copy of
// the generated types lets the table logic compile and its tests run. It is
// never shared with a kernel; TestLayoutMatchesGenerated compares it with
// the generated types where they exist.
type (
	slot struct {
		_           structs.HostLayout
		Key         uint64
		SpanId      uint64
		TraceId     [2]uint64
		SysCount    [3]uint64
		SysNs       [3]uint64
		OffcpuNs    uint64
		RunqNs      uint64
		Nivcsw      uint64
		Gen         uint64
		AssistNs    uint64
		AssistCount uint64
	}
	stats struct {
		_           structs.HostLayout
		HostTgid    uint64
		CalibKey    uint64
		CalibFsOk   uint64
		CalibFsBad  uint64
		ThreadDrops uint64
		Published   uint64
		Pad         [2]uint64
	}
)
