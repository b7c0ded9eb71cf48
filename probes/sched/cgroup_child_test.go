package sched

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/testutil"
)

const cgroupChildEnv = "VERDICT_SCHED_TEST_CGROUP"

// cgroupChild moves itself into the cgroup dir, burns CPU on every CPU
// for a second under the sched probe, and prints its Snapshot.
func cgroupChild(dir string) int {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	p, err := New(WithoutEBPF("test"))
	if err != nil || p.Start(context.Background()) != nil {
		return 1
	}
	defer p.Shutdown(context.Background())
	p.Snapshot()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for start := time.Now(); time.Since(start) < 1200*time.Millisecond; {
			}
		})
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(p.Snapshot())
	return 0
}

// TestThrottledCgroup: a process in a cgroup limited to 0.2 CPU that burns
// four CPUs' worth sees the limit and is throttled in most periods; its
// threads wait for a CPU. Real cgroup, as root (cgroup v1 cpu controller,
// or v2 with the cpu controller enabled for the parent).
func TestThrottledCgroup(t *testing.T) {
	testutil.RequireRoot(t, "create a cgroup")
	cg := findCgroup("/proc")
	var dir string
	switch cg.version {
	case 1:
		dir = filepath.Join(cg.dir, "verdict-sched-test-"+strconv.Itoa(os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("cannot create a cgroup: %v", err)
		}
		defer os.Remove(dir)
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte("100000"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte("20000"), 0o644); err != nil {
			t.Fatal(err)
		}
	case 2:
		dir = filepath.Join(cg.dir, "verdict-sched-test-"+strconv.Itoa(os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("cannot create a cgroup: %v", err)
		}
		defer os.Remove(dir)
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte("20000 100000"), 0o644); err != nil {
			t.Skipf("no cpu controller in the cgroup: %v", err)
		}
	default:
		t.Skip("no cgroup CPU controller here")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cgroupChildEnv+"="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var s Snapshot
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	t.Logf("throttled child: %+v", s)
	if s.CgroupVersion != cg.version || s.CPULimit != 0.2 {
		t.Errorf("cgroup v%d limit %v, want v%d 0.2", s.CgroupVersion, s.CPULimit, cg.version)
	}
	if s.Periods == 0 || s.Throttled == 0 || s.ThrottledTime <= 0 || s.ThrottledRatio <= 0 {
		t.Errorf("not throttled: periods %d, throttled %d (%v), ratio %v", s.Periods, s.Throttled, s.ThrottledTime, s.ThrottledRatio)
	}
	if s.RunQueueRate <= 0 {
		t.Errorf("run-queue rate %v, want > 0", s.RunQueueRate)
	}
}
