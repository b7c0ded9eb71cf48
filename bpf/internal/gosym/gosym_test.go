package gosym

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

//go:noinline
func probeTarget(a, b int) int {
	if a > b {
		return a - b
	}
	return b - a + 1
}

func TestTestBinaryHasNoSymtabButResolves(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/exe")
	}
	ef, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	_, symErr := ef.Symbols()
	ef.Close()
	t.Logf("ELF symbol table of the test binary: %v", symErr)

	tab, err := OpenSelf()
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()

	gc, err := tab.Lookup("runtime.GC")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := tab.Lookup("github.com/verdict-obs/verdict/bpf/internal/gosym.probeTarget")
	if err != nil {
		t.Fatal(err)
	}
	// Link-time addresses differ from run-time ones by the load bias only
	// (zero unless PIE): distances must match the running program's.
	pcGC := reflect.ValueOf(runtime.GC).Pointer()
	pcPT := reflect.ValueOf(probeTarget).Pointer()
	if got, want := int64(pt.Entry-gc.Entry), int64(pcPT-pcGC); got != want {
		t.Fatalf("distance probeTarget-runtime.GC: table %d, running program %d", got, want)
	}
	if f := runtime.FuncForPC(pcPT); f == nil || f.Entry() != pcPT {
		t.Fatalf("FuncForPC disagrees about probeTarget's entry")
	}
	// The file offset must point at the very bytes that run.
	code, err := tab.Code(pt)
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, len(code))
	self, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if _, err := self.ReadAt(mem, int64(pcPT)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, mem) {
		t.Fatalf("code read at file offset %#x differs from the running function", pt.FileOffset)
	}
	if _, err := tab.Lookup("no.such.function"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing function: got %v, want ErrNotFound", err)
	}
}

func TestClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/exe")
	}
	tab, err := OpenSelf()
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tab.Lookup("runtime.GC")
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tab.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := tab.Code(fn); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Code after Close: %v", err)
	}
	if _, err := tab.Lookup("runtime.GC"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Lookup after Close: %v", err)
	}
}

func TestOpenRejectsNonGo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(p, []byte("not an ELF file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err == nil {
		t.Fatal("Open of garbage succeeded")
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		// A C (non-Go) ELF executable: no .gopclntab.
		if _, err := Open(sh); err == nil {
			t.Fatalf("Open(%s) succeeded on a non-Go binary", sh)
		}
	}
}

// buildKnown builds testdata/known with the given ldflags, for GOARCH
// goarch ("" means the host's).
func buildKnown(t *testing.T, ldflags string, goarch ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "known")
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags="+ldflags)
	}
	cmd := exec.Command("go", append(args, "./testdata/known")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	for _, a := range goarch {
		cmd.Env = append(cmd.Env, "GOARCH="+a)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// TestStrippedBinaryMatchesSymbols resolves functions in a binary built with
// -ldflags="-s -w" and checks them against the ELF symbols of the same
// program built without stripping (stripping does not move code).
func TestStrippedBinaryMatchesSymbols(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	full := buildKnown(t, "")
	stripped := buildKnown(t, "-s -w")

	ef, err := elf.Open(stripped)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ef.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Fatalf("stripped binary still has symbols: %v", err)
	}
	ef.Close()

	ef, err = elf.Open(full)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := ef.Symbols()
	ef.Close()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Open(stripped)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	checked := 0
	for _, s := range syms {
		switch s.Name {
		case "main.known", "main.main", "runtime.stopTheWorldWithSema", "runtime.startTheWorldWithSema":
			fn, err := tab.Lookup(s.Name)
			if err != nil {
				t.Fatal(err)
			}
			if fn.Entry != s.Value || fn.Size() < s.Size {
				t.Errorf("%s: table entry %#x size %d, ELF symbol %#x size %d", s.Name, fn.Entry, fn.Size(), s.Value, s.Size)
			}
			checked++
		}
	}
	if checked != 4 {
		t.Fatalf("checked %d functions, want 4", checked)
	}
}

// TestRetOffsetsMatchObjdump compares RetOffsets with the RET lines of
// "go tool objdump" on the same functions, for amd64 and arm64 binaries.
func TestRetOffsetsMatchObjdump(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) { testRetOffsetsMatchObjdump(t, arch) })
	}
}

func testRetOffsetsMatchObjdump(t *testing.T, arch string) {
	bin := buildKnown(t, "", arch)
	tab, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	for _, name := range []string{"main.known", "runtime.startTheWorldWithSema", "runtime.stopTheWorldWithSema"} {
		fn, err := tab.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tab.RetOffsets(fn)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("go", "tool", "objdump", "-s", "^"+strings.ReplaceAll(name, ".", `\.`)+"$", bin).Output()
		if err != nil {
			t.Fatalf("objdump: %v", err)
		}
		var want []uint64
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			// file:line  0xADDR  hex  MNEMONIC ...
			if len(f) >= 4 && f[3] == "RET" {
				addr, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, addr-fn.Entry)
			}
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: RetOffsets %v, objdump %v", name, got, want)
		}
		if name == "runtime.stopTheWorldWithSema" && arch == "amd64" {
			off, emulated, err := tab.EntryOffset(fn)
			if err != nil || !emulated || off == 0 {
				t.Errorf("EntryOffset(%s) = %d, %v, %v; want the push after the stack check", name, off, emulated, err)
			}
		}
	}
}
