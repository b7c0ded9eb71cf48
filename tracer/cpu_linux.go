package tracer

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/verdict-obs/verdict/internal/stage"
)

// cpuReader reads the process's cgroup (v2) CPU quota and throttling and
// its own CPU time, for the judge's CPU section.
type cpuReader struct {
	dir string // the cgroup's directory under /sys/fs/cgroup, "" when unknown
}

func newCPUReader() cpuReader {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return cpuReader{}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return cpuReader{dir: filepath.Join("/sys/fs/cgroup", filepath.Clean("/"+rest))}
		}
	}
	return cpuReader{}
}

func (c cpuReader) read() stage.CPUReading {
	var r stage.CPUReading
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.Usage = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r.RunDelay = runDelay()
	if c.dir == "" {
		return r
	}
	if max, err := os.ReadFile(filepath.Join(c.dir, "cpu.max")); err == nil {
		f := strings.Fields(string(max))
		if len(f) == 2 && f[0] != "max" {
			quota, err1 := strconv.ParseFloat(f[0], 64)
			period, err2 := strconv.ParseFloat(f[1], 64)
			if err1 == nil && err2 == nil && period > 0 {
				r.Available, r.Quota = true, quota/period
			}
		}
	}
	if !r.Available {
		return r
	}
	stat, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return r
	}
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "nr_periods":
			r.Periods = n
		case "nr_throttled":
			r.Throttled = n
		case "throttled_usec":
			r.ThrottledTime = time.Duration(n) * time.Microsecond
		}
	}
	return r
}

// runDelay sums the run-queue wait (the second field of schedstat) of the
// process's threads.
func runDelay() time.Duration {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	var total uint64
	buf := make([]byte, 64)
	for _, e := range ents {
		f, err := os.Open("/proc/self/task/" + e.Name() + "/schedstat")
		if err != nil {
			continue
		}
		n, _ := f.Read(buf)
		f.Close()
		fields := strings.Fields(string(buf[:n]))
		if len(fields) >= 2 {
			if v, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
				total += v
			}
		}
	}
	return time.Duration(total)
}
