package tracer

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// needRoot skips without root, except under CI=true, where the privileged
// path must run.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: this test needs root (eBPF)")
	}
	t.Skip("needs root for eBPF")
}

// blockInKernel blocks the thread in nanosleep for d, resuming after signals
// (the runtime's SIGURG preemption interrupts it with EINTR).
func blockInKernel(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	var rem syscall.Timespec
	for syscall.Nanosleep(&ts, &rem) == syscall.EINTR {
		ts = rem
	}
}

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// With EBPFRequired, as root, every span gets its kernel time and the exact
// stop-the-world pauses that interrupted it, through the tracer's own span
// pipeline (no middleware involved: a manual span).
func TestEBPFRequiredAttributesSpans(t *testing.T) {
	needRoot(t)
	before := fdCount(t)
	tr, exp := startBuiltin(t, WithEBPF(EBPFRequired))
	c, ok := tr.Status().Component("ebpf")
	if !ok || c.State != probes.StateOn {
		t.Fatalf("ebpf component = %+v; status:\n%s", c, tr.Status())
	}

	tracer := tr.TracerProvider().Tracer("test")
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, span := tracer.Start(context.Background(), "sleep")
		blockInKernel(30 * time.Millisecond)
		span.End()
	}()
	_, span := tracer.Start(context.Background(), "gc")
	runtime.GC()
	span.End()

	sleep := spanAttrs(t, tr, exp, "sleep")
	if v, _ := sleep.Value(semconv.AttrKernelOffCPUDuration); v.AsFloat64() < 0.025 || v.AsFloat64() > 1 {
		t.Errorf("30 ms nanosleep: %s = %v, want about 0.03", semconv.AttrKernelOffCPUDuration, v.Emit())
	}
	if v, _ := sleep.Value(semconv.AttrKernelSyscallCount); v.AsInt64() < 1 {
		t.Errorf("%s = %v, want >= 1", semconv.AttrKernelSyscallCount, v.Emit())
	}
	gc := spanAttrs(t, tr, exp, "gc")
	if v, _ := gc.Value(semconv.AttrGCSTWCount); v.AsInt64() < 1 {
		t.Errorf("span around runtime.GC(): %s = %v, want >= 1", semconv.AttrGCSTWCount, v.Emit())
	}
	if v, _ := gc.Value(semconv.AttrGCSTWDuration); v.AsFloat64() <= 0 {
		t.Errorf("span around runtime.GC(): %s = %v, want > 0", semconv.AttrGCSTWDuration, v.Emit())
	}

	shutdown(t, tr)
	if c, _ := tr.Status().Component("ebpf"); c.State != probes.StateOff {
		t.Errorf("after Shutdown ebpf = %+v", c)
	}
	if after := fdCount(t); after != before {
		t.Errorf("file descriptors: %d before Start, %d after Shutdown", before, after)
	}
}

// The unprivileged path, for real: the test binary re-executed as uid 65534.
// EBPFAuto starts, serves and exports spans without kernel attributes and
// says why in Status; EBPFRequired fails Start with a permission error.
func TestEBPFUnprivileged(t *testing.T) {
	needRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "verdict-tracer-unpriv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tracer.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"=unprivileged", "VERDICT_EBPF=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var r childReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	t.Logf("child status:\n%s", r.StatusPrinted)
	if r.UID != 65534 {
		t.Errorf("child ran as uid %d", r.UID)
	}
	if r.AutoStartErr != "" {
		t.Errorf("EBPFAuto without privileges: Start failed: %s", r.AutoStartErr)
	}
	if r.EBPFState != "off" || !strings.Contains(r.EBPFReason, "CAP_BPF") {
		t.Errorf("ebpf component = %q %q, want off with a reason naming CAP_BPF", r.EBPFState, r.EBPFReason)
	}
	if r.RuntimeState != "on" {
		t.Errorf("runtime probe state %q without privileges, want on", r.RuntimeState)
	}
	if r.Spans != 1 || len(r.KernelAttrs) != 0 {
		t.Errorf("exported %d spans with kernel attributes %v, want 1 span and none", r.Spans, r.KernelAttrs)
	}
	if r.RequiredErr == "" || !r.RequiredPerm || !strings.Contains(r.RequiredErr, "CAP_BPF") {
		t.Errorf("EBPFRequired without privileges: err %q (is ErrPermission: %v), want a permission error naming CAP_BPF", r.RequiredErr, r.RequiredPerm)
	}
}

// WithKernelOptions reaches the kernel probe: without system call tracing,
// off-CPU time of a blocking call is still attributed, system calls are not
// counted.
func TestEBPFWithoutSyscallTracing(t *testing.T) {
	needRoot(t)
	tr, exp := startBuiltin(t, WithEBPF(EBPFRequired), WithoutRuntimeProbe(), WithKernelOptions(kernel.WithoutSyscallTracing()))
	defer shutdown(t, tr)
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "sleep")
		blockInKernel(30 * time.Millisecond)
		span.End()
	}()
	a := spanAttrs(t, tr, exp, "sleep")
	if v, _ := a.Value(semconv.AttrKernelOffCPUDuration); v.AsFloat64() < 0.025 {
		t.Errorf("off-CPU = %v without syscall tracing, want about 0.03", v.Emit())
	}
	if v, ok := a.Value(semconv.AttrKernelSyscallCount); ok && v.AsInt64() != 0 {
		t.Errorf("syscalls counted without syscall tracing: %v", v.Emit())
	}
}
