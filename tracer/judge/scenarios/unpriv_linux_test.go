package scenarios_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// unprivRun is the unprivileged suite: the test binary copied where uid
// 65534 can run it, re-executed with that user's credentials (eBPF off,
// every rule on user-space signals), in two runs: the light scenarios and
// the healthy run, then the CPU-heavy ones (heavy_test.go). It starts with
// the process (TestMain) and runs beside the root suite, the suite lock
// keeping the CPU-heavy faults of one away from the scenarios of the
// other; TestScenariosUnprivileged waits for it and reports.
type unprivRun struct {
	dir   string
	cmds  []*exec.Cmd // run one after the other
	out   bytes.Buffer
	start time.Time
	done  chan struct{}
	err   error

	mu     sync.Mutex
	cur    *exec.Cmd // the one running
	killed bool
}

var unpriv *unprivRun

// serialEnv, set, runs the unprivileged suite after the root suite
// (TestScenariosUnprivileged starts it) instead of beside it: twice the
// time, no other suite on the CPU.
const serialEnv = "VERDICT_SCENARIOS_SERIAL"

// startUnprivileged starts the unprivileged suite when this process is
// root, not itself that suite, not under the race detector, and its
// -test.run selects TestScenariosUnprivileged. It returns nil otherwise or
// when it cannot start (TestScenariosUnprivileged then says why).
func startUnprivileged() *unprivRun {
	if raceEnabled || os.Getenv(childEnv) != "" || os.Geteuid() != 0 || !selected("TestScenariosUnprivileged") ||
		os.Getenv(serialEnv) != "" {
		return nil
	}
	u, err := newUnprivRun()
	if err != nil {
		return &unprivRun{err: err, done: closed()}
	}
	return u
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// selected reports whether -test.run and -test.skip select the top-level
// test name.
func selected(name string) bool {
	match := func(flagName string, empty bool) bool {
		f := flag.Lookup(flagName)
		if f == nil || f.Value.String() == "" {
			return empty
		}
		pat := strings.Split(f.Value.String(), "/")[0]
		re, err := regexp.Compile(pat)
		return err == nil && re.MatchString(name)
	}
	return match("test.run", true) && !match("test.skip", false)
}

func newUnprivRun() (*unprivRun, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "verdict-scenarios-unpriv")
	if err != nil {
		return nil, err
	}
	u := &unprivRun{dir: dir, done: make(chan struct{})}
	if err := os.Chmod(dir, 0o755); err != nil {
		u.cleanup()
		return nil, err
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		u.cleanup()
		return nil, err
	}
	bin := filepath.Join(dir, "scenarios.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		u.cleanup()
		return nil, err
	}
	if err := createSuiteLock(dir); err != nil {
		u.cleanup()
		return nil, err
	}
	// This process's scenarios take the same lock.
	os.Setenv(suiteLockEnv, dir)
	// The light scenarios and the healthy run first, the CPU-heavy ones
	// last: the root suite runs them in the other order, so that the two
	// suites' heavy scenarios rarely wait for each other.
	runs := [][]string{{"-test.run=^TestScenario[^s]", "-test.skip=" + heavyScenarios}, {"-test.run=" + heavyScenarios}}
	if run := os.Getenv("VERDICT_SCENARIOS_RUN"); run != "" {
		runs = [][]string{{"-test.run=" + run}}
	}
	for _, args := range runs {
		cmd := exec.Command(bin, append(args, "-test.v", "-test.count=1", "-test.timeout=15m")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), childEnv+"=unprivileged", "VERDICT_EBPF=", "TMPDIR=/tmp", "HOME="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Pdeathsig: syscall.SIGKILL}
		cmd.Stdout, cmd.Stderr = &u.out, &u.out
		u.cmds = append(u.cmds, cmd)
	}
	u.start = time.Now()
	go func() {
		defer close(u.done)
		var errs []error
		for _, cmd := range u.cmds {
			u.mu.Lock()
			if u.killed {
				u.mu.Unlock()
				errs = append(errs, errors.New("stopped"))
				break
			}
			err := cmd.Start()
			u.cur = cmd
			u.mu.Unlock()
			if err == nil {
				err = cmd.Wait()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", strings.Join(cmd.Args[1:2], " "), err))
			}
		}
		u.err = errors.Join(errs...)
	}()
	return u, nil
}

func (u *unprivRun) cleanup() {
	if u.dir != "" {
		os.RemoveAll(u.dir)
	}
}

// stop ends the suite if it still runs (this process's tests are over:
// TestScenariosUnprivileged failed or did not run) and removes its files.
func (u *unprivRun) stop() {
	if u == nil {
		return
	}
	if u.cmds != nil {
		u.mu.Lock()
		u.killed = true
		if c := u.cur; c != nil && c.Process != nil {
			c.Process.Kill()
		}
		u.mu.Unlock()
		<-u.done
	}
	u.cleanup()
}

// TestScenariosUnprivileged checks the unprivileged suite TestMain
// started beside this one.
func TestScenariosUnprivileged(t *testing.T) {
	skipUnderRace(t)
	if os.Getenv(childEnv) != "" {
		t.Skip("already the unprivileged child")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: this test needs root to re-execute the suite as uid 65534")
		}
		t.Skip("needs root to re-execute the suite as uid 65534 (run as an unprivileged user, the suite itself is the unprivileged run)")
	}
	u := unpriv
	if u == nil && os.Getenv(serialEnv) != "" {
		var err error
		if u, err = newUnprivRun(); err != nil {
			t.Fatalf("cannot start the unprivileged suite: %v", err)
		}
		defer u.stop()
	}
	if u == nil {
		t.Fatal("the unprivileged suite was not started (TestMain starts it when -test.run selects this test)")
	}
	if u.cmds == nil {
		t.Fatalf("cannot start the unprivileged suite: %v", u.err)
	}
	<-u.done
	out := u.out.Bytes()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.Contains(line, "RESULT ") || strings.HasPrefix(line, "--- ") || strings.Contains(line, "fired too") ||
			strings.Contains(line, "verdict in a healthy run") || strings.HasPrefix(line, "verdict:") {
			t.Log(line)
		}
	}
	t.Logf("unprivileged suite: %s (beside this one)", time.Since(u.start).Round(time.Second))
	if u.err != nil {
		t.Fatalf("unprivileged suite failed: %v\n%s", u.err, out)
	}
	if !bytes.Contains(out, []byte("mode=unprivileged")) {
		t.Errorf("the child did not run unprivileged:\n%s", out)
	}
}
