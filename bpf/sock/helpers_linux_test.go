//go:build linux && (amd64 || arm64)

package sock

import (
	"errors"
	"os"
	"testing"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/testutil"
)

// requireTracer opens a Tracer or skips when the privileges are really
// missing (fails instead under CI=true).
func requireTracer(tb testing.TB, opts *Options) *Tracer {
	tb.Helper()
	testutil.RequirePrivilege(tb, bpf.Check().Err)
	tr, err := Open(opts)
	if err != nil && !errors.Is(err, os.ErrPermission) {
		tb.Fatalf("Open after a passing preflight: %v", err)
	}
	testutil.RequirePrivilege(tb, err)
	tb.Cleanup(func() {
		if err := tr.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return tr
}
