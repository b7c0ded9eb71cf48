//go:build !linux

package gosym

import (
	"debug/elf"
	"errors"
	"os"
)

// mapSection is Linux-only: elsewhere the section is read onto the heap.
func mapSection(*os.File, *elf.Section) ([]byte, func() error, error) {
	return nil, nil, errors.ErrUnsupported
}
