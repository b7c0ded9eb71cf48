package gosym

import (
	"debug/elf"
	"fmt"
	"os"
	"syscall"
)

// mapSection maps sec of f read-only: the line table is read in place from
// the page cache instead of being copied onto the Go heap (megabytes that
// the process would keep as resident memory long after start-up). unmap
// releases it.
func mapSection(f *os.File, sec *elf.Section) (data []byte, unmap func() error, err error) {
	if sec.Type == elf.SHT_NOBITS || sec.Flags&elf.SHF_COMPRESSED != 0 || sec.Size == 0 {
		return nil, nil, fmt.Errorf("section %s cannot be mapped", sec.Name)
	}
	page := uint64(os.Getpagesize())
	start := sec.Offset &^ (page - 1)
	delta := sec.Offset - start
	m, err := syscall.Mmap(int(f.Fd()), int64(start), int(delta+sec.Size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("map section %s: %w", sec.Name, err)
	}
	return m[delta : delta+sec.Size], func() error { return syscall.Munmap(m) }, nil
}
