package gosym

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"runtime"
	"testing"

	"github.com/verdict-obs/verdict/bpf"
)

func TestMappedFileOffsetRejectsUnmapped(t *testing.T) {
	if _, err := mappedFileOffset(0); !errors.Is(err, bpf.ErrNotSupported) {
		t.Fatalf("address 0: %v, want ErrNotSupported", err)
	}
}

// BenchmarkOpenSelfLookup measures the one-time cost of resolving a function
// of the running program (parse and calibrate the line table, look up).
func BenchmarkOpenSelfLookup(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tab, err := OpenSelf()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tab.Lookup("runtime.startTheWorldWithSema"); err != nil {
			b.Fatal(err)
		}
		tab.Close()
	}
}

// TestIndexMatchesDebugGosym: the direct line-table index resolves every
// 50th function of the test binary (and the last) to the entry and end
// debug/gosym gives it.
func TestIndexMatchesDebugGosym(t *testing.T) {
	ef, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	data, err := ef.Section(".gopclntab").Data()
	if err != nil {
		t.Fatal(err)
	}
	index, ok := newPclnIndex(data, ef.ByteOrder)
	if !ok {
		t.Fatalf("the %s line table is not indexed directly", runtime.Version())
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, 0))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i := 0; i < len(tab.Funcs); i += 10 {
		if i+10 >= len(tab.Funcs) {
			i = len(tab.Funcs) - 1
		}
		want := tab.LookupFunc(tab.Funcs[i].Name) // the first of that name, as lookup finds
		entry, end, ok := index.lookup(want.Name)
		if !ok || entry != want.Entry || end != want.End {
			t.Fatalf("%s: index %#x-%#x (found %v), debug/gosym %#x-%#x", want.Name, entry, end, ok, want.Entry, want.End)
		}
		checked++
	}
	if _, _, ok := index.lookup("no.such.function"); ok {
		t.Error("found no.such.function")
	}
	if _, _, ok := index.lookup("runtime.G"); ok { // a prefix of runtime.GC
		t.Error("found a name prefix")
	}
	t.Logf("%d of %d functions checked", checked, len(tab.Funcs))
}
