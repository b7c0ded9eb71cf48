package gosym

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"github.com/verdict-obs/verdict/bpf"
)

// OpenSelf parses the Go line table of the running executable, through
// /proc/self/exe (which names the executable even if its file was replaced
// or deleted since the process started).
//
// The table is calibrated against the running program rather than trusted:
// the run-time address of a known function (runtime.GC), mapped back to
// the executable file through /proc/self/maps, fixes where runtime.text
// is. That makes it exact for position-independent and externally linked
// (cgo) binaries too. The code bytes at the computed file offset must equal
// the bytes that run, or OpenSelf fails with an error wrapping
// [bpf.ErrNotSupported]: a uprobe at a wrong offset would corrupt code.
func OpenSelf() (*Table, error) {
	const path = "/proc/self/exe"
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	t, err := newTable(f, true)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := t.calibrateSelf(); err != nil {
		t.Close()
		return nil, fmt.Errorf("calibrate own line table: %w", err)
	}
	return t, nil
}

const anchorName = "runtime.GC"

func (t *Table) calibrateSelf() error {
	anchorEntry, anchorEnd, ok := t.lookup(anchorName)
	if !ok || anchorEnd <= anchorEntry {
		return fmt.Errorf("%s not in line table: %w", anchorName, bpf.ErrNotSupported)
	}
	pc := uint64(reflect.ValueOf(runtime.GC).Pointer())
	if f := runtime.FuncForPC(uintptr(pc)); f == nil || f.Name() != anchorName || uint64(f.Entry()) != pc {
		return fmt.Errorf("%s: function value is not its entry: %w", anchorName, bpf.ErrNotSupported)
	}
	fileOff, err := mappedFileOffset(pc)
	if err != nil {
		return err
	}
	vaddr, err := t.vaddr(fileOff)
	if err != nil {
		return err
	}
	t.textBase = vaddr - anchorEntry

	// Verify: the file's bytes at the computed offset are the running code.
	n := min(anchorEnd-anchorEntry, 64)
	onDisk := make([]byte, n)
	if _, err := t.file.ReadAt(onDisk, int64(fileOff)); err != nil {
		return fmt.Errorf("read %s from the executable: %w", anchorName, err)
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return fmt.Errorf("read own code: %w", err)
	}
	defer mem.Close()
	running := make([]byte, n)
	if _, err := mem.ReadAt(running, int64(pc)); err != nil {
		return fmt.Errorf("read own code: %w", err)
	}
	if !bytes.Equal(onDisk, running) {
		return fmt.Errorf("code of %s at file offset %#x differs from the running code: %w", anchorName, fileOff, bpf.ErrNotSupported)
	}
	return nil
}

// mappedFileOffset finds the file-backed mapping of the own executable that
// contains addr and returns the corresponding offset in the file.
func mappedFileOffset(addr uint64) (uint64, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("read own mappings: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil || addr < start || addr >= end {
			continue
		}
		if !strings.Contains(f[1], "x") {
			return 0, fmt.Errorf("address %#x is not in executable memory: %w", addr, bpf.ErrNotSupported)
		}
		return addr - start + off, nil
	}
	return 0, fmt.Errorf("address %#x is in no mapping: %w", addr, bpf.ErrNotSupported)
}
