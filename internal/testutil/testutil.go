// Package testutil holds the helpers verdict's tests share: how a test that
// needs privileges skips (and fails under CI=true instead), and how a test
// runs the test binary as another user.
//
// It imports nothing of verdict, so every package's tests can use it,
// bpf's own included.
package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// CI reports whether the tests run under CI=true. There, tests run as root
// with eBPF available, and a privileged test that cannot run is a failure,
// not a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// RequirePrivilege returns when err is nil. When err says that eBPF cannot
// run here (it wraps os.ErrPermission or errors.ErrUnsupported, as
// bpf.ErrNotSupported does), it skips the test with err as the reason, or
// fails it under CI=true. Any other error fails the test.
func RequirePrivilege(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, os.ErrPermission) || errors.Is(err, errors.ErrUnsupported) {
		if CI() {
			tb.Fatalf("CI=true: this test needs eBPF: %v", err)
		}
		tb.Skipf("needs eBPF (root or CAP_BPF+CAP_PERFMON): %v", err)
	}
	tb.Fatal(err)
}

// RequireRoot skips the test unless the process runs as root, or fails it
// under CI=true. why says what needs root ("switch to uid 65534").
func RequireRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if CI() {
		tb.Fatalf("CI=true: this test needs root to %s", why)
	}
	tb.Skipf("needs root to %s", why)
}

// ExecutableCopy copies the running test binary into a fresh directory that
// every user can read and execute (t.TempDir's parent is private to its
// owner) and returns its path, so that the test can run it as another
// user. The directory is removed when the test ends.
func ExecutableCopy(tb testing.TB) string {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "verdict-test-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(exe))
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		tb.Fatal(err)
	}
	return bin
}
