//go:build linux && (amd64 || arm64)

package bpf

import (
	"errors"
	"os"
	"testing"
)

// requireTiming loads Timing or skips when the privileges are really missing
// (fails instead under CI=true).
func requireTiming(tb testing.TB, opts *TimingOptions) *Timing {
	tb.Helper()
	if p := Check(); p.Err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("eBPF unavailable under CI: %v", p.Err)
		}
		tb.Skipf("eBPF unavailable: %s", p.Reason)
	}
	tm, err := LoadTiming(opts)
	if err != nil {
		if errors.Is(err, os.ErrPermission) && os.Getenv("CI") != "true" {
			tb.Skipf("eBPF not permitted: %v", err)
		}
		tb.Fatalf("LoadTiming: %v", err)
	}
	tb.Cleanup(func() {
		if err := tm.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return tm
}
