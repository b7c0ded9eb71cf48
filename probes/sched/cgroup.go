package sched

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroup locates the process's CPU controller files.
type cgroup struct {
	version int    // 1 or 2; 0 when no CPU controller was found
	dir     string // the cgroup's directory in the controller's hierarchy
}

// cpuStat is one reading of the cgroup's CPU controller.
type cpuStat struct {
	limit     float64 // CPUs; 0 when unlimited
	periods   uint64
	throttled uint64
	thrTime   time.Duration
	ok        bool
}

// findCgroup finds the process's cgroup with a CPU controller: the v1 cpu
// hierarchy if one is mounted (on hybrid systems the controller lives
// there), otherwise the v2 hierarchy. procRoot is normally "/proc".
func findCgroup(procRoot string) cgroup {
	mounts, err := os.ReadFile(filepath.Join(procRoot, "self/mountinfo"))
	if err != nil {
		return cgroup{}
	}
	groups, err := os.ReadFile(filepath.Join(procRoot, "self/cgroup"))
	if err != nil {
		return cgroup{}
	}
	var v1Mount, v1Root, v2Mount, v2Root string
	for line := range bytes.Lines(mounts) {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(strings.TrimSpace(string(line)), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 1 {
			continue
		}
		switch {
		case g[0] == "cgroup2" && v2Mount == "":
			v2Mount, v2Root = f[4], f[3]
		case g[0] == "cgroup" && len(g) >= 3 && hasOption(g[2], "cpu") && v1Mount == "":
			v1Mount, v1Root = f[4], f[3]
		}
	}
	var v1Path, v2Path string
	have1, have2 := false, false
	for line := range bytes.Lines(groups) {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(strings.TrimSpace(string(line)), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2Path, have2 = parts[2], true
		case hasOption(parts[1], "cpu"):
			v1Path, have1 = parts[2], true
		}
	}
	under := func(mount, root, path string) string {
		rel := path
		if root != "/" && strings.HasPrefix(path, root) {
			rel = strings.TrimPrefix(path, root)
		}
		return filepath.Join(mount, rel)
	}
	if have1 && v1Mount != "" {
		return cgroup{version: 1, dir: under(v1Mount, v1Root, v1Path)}
	}
	if have2 && v2Mount != "" {
		dir := under(v2Mount, v2Root, v2Path)
		if _, err := os.Stat(filepath.Join(dir, "cpu.max")); err == nil {
			return cgroup{version: 2, dir: dir}
		}
	}
	return cgroup{}
}

func hasOption(list, name string) bool {
	for o := range strings.SplitSeq(list, ",") {
		if o == name {
			return true
		}
	}
	return false
}

// read reads the quota and the throttling counters.
func (c cgroup) read() cpuStat {
	var s cpuStat
	switch c.version {
	case 1:
		quota, err1 := readInt(filepath.Join(c.dir, "cpu.cfs_quota_us"))
		period, err2 := readInt(filepath.Join(c.dir, "cpu.cfs_period_us"))
		if err1 != nil || err2 != nil {
			return s
		}
		if quota > 0 && period > 0 {
			s.limit = float64(quota) / float64(period)
		}
		st := readKV(filepath.Join(c.dir, "cpu.stat"))
		s.periods, s.throttled = st["nr_periods"], st["nr_throttled"]
		s.thrTime = time.Duration(st["throttled_time"]) // ns
	case 2:
		b, err := os.ReadFile(filepath.Join(c.dir, "cpu.max"))
		if err != nil {
			return s
		}
		if f := strings.Fields(string(b)); len(f) == 2 && f[0] != "max" {
			q, e1 := strconv.ParseFloat(f[0], 64)
			p, e2 := strconv.ParseFloat(f[1], 64)
			if e1 == nil && e2 == nil && q > 0 && p > 0 {
				s.limit = q / p
			}
		}
		st := readKV(filepath.Join(c.dir, "cpu.stat"))
		s.periods, s.throttled = st["nr_periods"], st["nr_throttled"]
		s.thrTime = time.Duration(st["throttled_usec"]) * time.Microsecond
	default:
		return s
	}
	s.ok = true
	return s
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func readKV(path string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// runDelay sums the run_delay (ns waiting on a run queue) of the
// process's live threads: the second field of /proc/self/task/*/schedstat.
func runDelay(procRoot string) (time.Duration, bool) {
	dir := filepath.Join(procRoot, "self/task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var total time.Duration
	ok := false
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			total += time.Duration(n)
			ok = true
		}
	}
	return total, ok
}
