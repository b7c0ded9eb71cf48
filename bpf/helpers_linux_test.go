//go:build linux && (amd64 || arm64)

package bpf

import (
	"errors"
	"os"
	"testing"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// requireTiming loads Timing or skips when the privileges are really missing
// (fails instead under CI=true).
func requireTiming(tb testing.TB, opts *TimingOptions) *Timing {
	tb.Helper()
	testutil.RequirePrivilege(tb, Check().Err) // what this machine lacks, if anything
	tm, err := LoadTiming(opts)
	if err != nil && !errors.Is(err, os.ErrPermission) {
		tb.Fatalf("LoadTiming after a passing preflight: %v", err)
	}
	testutil.RequirePrivilege(tb, err)
	tb.Cleanup(func() {
		if err := tm.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return tm
}
