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
