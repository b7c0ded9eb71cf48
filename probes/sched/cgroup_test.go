package sched

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeProc writes a /proc/self with the given mountinfo and cgroup files.
func fakeProc(t *testing.T, mountinfo, cgroup string) string {
	t.Helper()
	root := t.TempDir()
	self := filepath.Join(root, "self")
	if err := os.MkdirAll(self, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"mountinfo": mountinfo, "cgroup": cgroup} {
		if err := os.WriteFile(filepath.Join(self, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCgroupV2(t *testing.T) {
	fs := t.TempDir()
	writeFiles(t, filepath.Join(fs, "app.slice/svc"), map[string]string{
		"cpu.max":  "150000 100000\n",
		"cpu.stat": "usage_usec 100\nnr_periods 40\nnr_throttled 10\nthrottled_usec 250000\n",
	})
	proc := fakeProc(t, "30 25 0:26 / "+fs+" rw,nosuid - cgroup2 cgroup2 rw\n", "0::/app.slice/svc\n")
	cg := findCgroup(proc)
	if cg.version != 2 {
		t.Fatalf("found %+v", cg)
	}
	s := cg.read()
	if !s.ok || s.limit != 1.5 || s.periods != 40 || s.throttled != 10 || s.thrTime != 250*time.Millisecond {
		t.Errorf("read %+v", s)
	}
	writeFiles(t, filepath.Join(fs, "app.slice/svc"), map[string]string{"cpu.max": "max 100000\n"})
	if s := cg.read(); s.limit != 0 {
		t.Errorf("no quota: limit %v", s.limit)
	}
}

// On a hybrid system the v1 cpu hierarchy holds the controller, as here.
func TestCgroupV1Hybrid(t *testing.T) {
	fs := t.TempDir()
	writeFiles(t, filepath.Join(fs, "cpu/job"), map[string]string{
		"cpu.cfs_quota_us":  "50000\n",
		"cpu.cfs_period_us": "100000\n",
		"cpu.stat":          "nr_periods 7\nnr_throttled 3\nthrottled_time 1500000\n",
	})
	proc := fakeProc(t,
		"30 25 0:26 / "+filepath.Join(fs, "unified")+" rw - cgroup2 cgroup2 rw\n"+
			"31 25 0:27 / "+filepath.Join(fs, "cpu")+" rw,relatime shared:9 - cgroup cgroup rw,cpu\n",
		"2:cpuacct:/\n1:cpu:/job\n0::/\n")
	cg := findCgroup(proc)
	if cg.version != 1 || cg.dir != filepath.Join(fs, "cpu/job") {
		t.Fatalf("found %+v", cg)
	}
	s := cg.read()
	if !s.ok || s.limit != 0.5 || s.periods != 7 || s.throttled != 3 || s.thrTime != 1500*time.Microsecond {
		t.Errorf("read %+v", s)
	}
}

func TestNoCgroup(t *testing.T) {
	proc := fakeProc(t, "garbage\n", "bad\n")
	if cg := findCgroup(proc); cg.version != 0 || cg.read().ok {
		t.Errorf("found %+v", cg)
	}
	if cg := findCgroup(t.TempDir()); cg.version != 0 {
		t.Errorf("no /proc: %+v", cg)
	}
}

// The kernel's schedstat of this process's threads is readable without
// privileges.
func TestRunDelay(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc here")
	}
	if _, ok := runDelay("/proc"); !ok {
		t.Skip("schedstat not available (kernel without CONFIG_SCHED_INFO)")
	}
}

func TestQuantile(t *testing.T) {
	if len(latencyBuckets) < 4 {
		t.Skip("no /sched/latencies histogram")
	}
	base := make([]uint64, len(latencyBuckets)-1)
	cur := make([]uint64, len(base))
	cur[1] = 98
	cur[3] = 2
	if q := quantile(base, cur, 0.5); q != time.Duration(latencyBuckets[2]*1e9) {
		t.Errorf("P50 = %v, want the upper bound of bucket 1 (%v)", q, latencyBuckets[2])
	}
	if q := quantile(base, cur, 0.99); q != time.Duration(latencyBuckets[4]*1e9) {
		t.Errorf("P99 = %v, want the upper bound of bucket 3", q)
	}
	if q := quantile(base, base, 0.99); q != 0 {
		t.Errorf("no schedule: %v", q)
	}
}
