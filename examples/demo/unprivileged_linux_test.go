package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// TestDemoUnprivileged runs TestDemoTour again as uid 65534: eBPF off, and
// the report says why and how to turn it on. (The schedule without eBPF
// is what the judge's scenario suite tests as uid 65534.)
func TestDemoUnprivileged(t *testing.T) {
	if os.Getenv("VERDICT_DEMO_CHILD") != "" {
		t.Skip("already the unprivileged run")
	}
	testutil.RequireRoot(t, "run the demo's test as uid 65534")
	bin := testutil.ExecutableCopy(t)
	home := filepath.Dir(bin)
	cmd := exec.Command(bin, "-test.run=^TestDemoTour$", "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "VERDICT_DEMO_CHILD=1", "VERDICT_EBPF=", "CI=", "HOME="+home, "TMPDIR=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	t.Logf("as uid 65534 (%s):\n%s", time.Since(start).Round(time.Second), buf.String())
	if err != nil {
		t.Fatalf("unprivileged run failed: %v", err)
	}
	if !strings.Contains(buf.String(), "--- PASS: TestDemoTour") {
		t.Errorf("TestDemoTour did not pass as uid 65534")
	}
	if !strings.Contains(buf.String(), "eBPF:        off: missing CAP_BPF") || !strings.Contains(buf.String(), "setcap cap_bpf,cap_perfmon+ep") {
		t.Errorf("the unprivileged report does not say why eBPF is off and how to turn it on")
	}
}
