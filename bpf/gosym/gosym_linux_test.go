package gosym

import (
	"errors"
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
