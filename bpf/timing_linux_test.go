//go:build linux && (amd64 || arm64)

package bpf

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func span(i byte) [8]byte  { return [8]byte{1, 2, 3, 4, 5, 6, 7, i} }
func trace(i byte) [16]byte { return [16]byte{15: i} }

func TestTimingSmoke(t *testing.T) {
	tm := requireTiming(t, nil)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !tm.Begin(trace(1), span(1)) {
		t.Fatal("Begin: false")
	}
	for range 1000 {
		unix.Getppid()
	}
	ts := syscall.Timespec{Nsec: int64(50 * time.Millisecond)}
	syscall.Nanosleep(&ts, nil)
	c, ok := tm.End(span(1))
	if !ok {
		t.Fatal("End: false")
	}
	t.Logf("%+v", c)
}
