package scenarios_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The root suite and the unprivileged suite run at the same time, in two
// processes (see startUnprivileged). Most scenarios use little CPU and
// touch only their own process's signals (spans, goroutines, GC, locks
// are per process), so they overlap. A scenario whose fault loads the
// host's CPU (spinning processes, a GC storm, sequential scans in the
// shared PostgreSQL) would starve the other process's scenario and fire
// cpu.starvation there: from its onset to its end it holds the suite lock
// exclusively, and every other scenario holds it shared.
//
// Three flock(2) files: rw is the lock itself; gate makes a waiting
// exclusive holder block new shared holders, so the other process cannot
// keep it out by starting scenario after scenario; heavy is held by a
// CPU-heavy scenario from before its service starts to its end, so that
// the other suite's heavy scenario never runs its service (waiting for rw
// with none held) while this one's fault loads the CPU. No process waits
// for the gate or heavy while it holds rw: there is no deadlock.
const suiteLockEnv = "VERDICT_SCENARIOS_LOCK"

type suiteLock struct {
	rw *os.File // holds a shared or exclusive lock while open; nil: none
}

// createSuiteLock makes the lock files in dir, readable by the
// unprivileged child (flock needs only an open descriptor).
func createSuiteLock(dir string) error {
	for _, n := range []string{"gate", "rw", "heavy"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// lockSuite takes the suite lock shared (or exclusive). Without a suite
// lock in the environment (one suite alone) it returns a lock that holds
// nothing.
func lockSuite(t *testing.T, exclusive bool) *suiteLock {
	t.Helper()
	dir := os.Getenv(suiteLockEnv)
	if dir == "" {
		return &suiteLock{}
	}
	gate, err := os.Open(filepath.Join(dir, "gate"))
	if err != nil {
		t.Fatalf("suite lock: %v", err)
	}
	defer gate.Close()
	rw, err := os.Open(filepath.Join(dir, "rw"))
	if err != nil {
		t.Fatalf("suite lock: %v", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := flock(gate, syscall.LOCK_EX); err != nil {
		rw.Close()
		t.Fatalf("suite lock: %v", err)
	}
	err = flock(rw, how)
	flock(gate, syscall.LOCK_UN)
	if err != nil {
		rw.Close()
		t.Fatalf("suite lock: %v", err)
	}
	return &suiteLock{rw: rw}
}

// lockHeavy takes the heavy lock for a CPU-heavy scenario, before its
// service starts; the returned lock is released by the caller.
func lockHeavy(t *testing.T) *suiteLock {
	t.Helper()
	dir := os.Getenv(suiteLockEnv)
	if dir == "" {
		return &suiteLock{}
	}
	f, err := os.Open(filepath.Join(dir, "heavy"))
	if err != nil {
		t.Fatalf("suite lock: %v", err)
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("suite lock: %v", err)
	}
	return &suiteLock{rw: f}
}

func (l *suiteLock) release() {
	if l.rw != nil {
		l.rw.Close() // closing the last descriptor releases the lock
		l.rw = nil
	}
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
