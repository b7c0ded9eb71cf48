package gosym

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/verdict-obs/verdict/bpf"
)

// ErrNotFound is returned (wrapped) by [Table.Lookup] when the executable has
// no function of that name (it was never linked in, or was inlined
// everywhere).
var ErrNotFound = errors.New("function not found")

// Func is one function of the executable.
type Func struct {
	// Name is the fully qualified Go name, e.g. "runtime.stopTheWorldWithSema".
	Name string
	// Entry is the link-time virtual address of the first instruction.
	Entry uint64
	// End is the link-time virtual address just past the last instruction.
	End uint64
	// FileOffset is the offset of Entry in the executable file: the value
	// for link.UprobeOptions.Address.
	FileOffset uint64
}

// Size is the size of the function's machine code in bytes.
func (f Func) Size() uint64 { return f.End - f.Entry }

// Table is the parsed Go line table of one executable.
//
// A Table holds the executable open and its line table mapped (on Linux;
// elsewhere, or for line tables older than Go 1.18, read and parsed in
// memory, a few megabytes for a large binary): resolve what you need, then
// Close it. Methods are safe for concurrent use; after Close they return
// errors.
type Table struct {
	mu      sync.RWMutex // held for reading while the mapping is read; Close takes it
	unmap   func() error // releases the mapped line table; nil when read onto the heap
	file    *os.File
	elf     *elf.File
	machine elf.Machine
	// index (Go 1.18+ line tables) or tab (older ones, through
	// debug/gosym) resolve names to entries that are offsets from
	// runtime.text; textBase is runtime.text's link-time address.
	index    *pclnIndex
	tab      *gosym.Table
	textBase uint64
}

// Open parses the Go line table of the ELF executable at path.
//
// The returned error wraps [bpf.ErrNotSupported] when the file is not a Go
// ELF executable.
func Open(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	t, err := newTable(f, false)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// newTable parses f's line table. For the running executable (self),
// OpenSelf calibrates runtime.text's address against the running code, so
// it is not looked for in the file (the ELF symbols it may take are
// megabytes).
func newTable(f *os.File, self bool) (t *Table, err error) {
	// debug/elf and debug/gosym are robust against most malformed input, but
	// a library must not take its host down on a corrupt file.
	var unmap func() error // set while a mapping is not yet owned by t
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("parse line table: malformed executable (%v): %w", r, bpf.ErrNotSupported)
		}
		if err != nil && unmap != nil {
			unmap()
		}
	}()

	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("parse ELF: %v: %w", err, bpf.ErrNotSupported)
	}
	sec := ef.Section(".gopclntab")
	if sec == nil {
		// Some linkers (external linking on a few platforms) place the
		// table in .data.rel.ro; the runtime finds it through the
		// moduledata, but without symbols we cannot: be honest about it.
		return nil, fmt.Errorf("no .gopclntab section (not a Go executable?): %w", bpf.ErrNotSupported)
	}
	t = &Table{file: f, elf: ef, machine: ef.Machine}
	if data, um, merr := mapSection(f, sec); merr == nil {
		unmap = um
		if index, ok := newPclnIndex(data, ef.ByteOrder); ok {
			if !self {
				t.textBase = textStart(ef, data)
			}
			t.index, t.unmap = index, um
			unmap = nil
			return t, nil
		}
		unmap()
		unmap = nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .gopclntab: %w", err)
	}
	if !self {
		t.textBase = textStart(ef, data)
	}
	if index, ok := newPclnIndex(data, ef.ByteOrder); ok {
		t.index = index
		return t, nil
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, 0))
	if err != nil {
		return nil, fmt.Errorf("parse line table: %v: %w", err, bpf.ErrNotSupported)
	}
	if len(tab.Funcs) == 0 {
		return nil, fmt.Errorf("empty or unknown line table format: %w", bpf.ErrNotSupported)
	}
	t.tab = tab
	return t, nil
}

// lookup returns the entry and end of the function named name, as offsets
// from runtime.text.
func (t *Table) lookup(name string) (entry, end uint64, ok bool) {
	if t.index != nil {
		return t.index.lookup(name)
	}
	fn := t.tab.LookupFunc(name)
	if fn == nil {
		return 0, 0, false
	}
	return fn.Entry, fn.End, true
}

// textStart returns the link-time address of runtime.text for a file on
// disk: from the line table header when the linker filled it in, else from
// the ELF symbol runtime.text, else from the start of .text (where the Go
// linker puts runtime.text; external linkers may put C code first, which
// is why OpenSelf calibrates against the running program instead).
func textStart(ef *elf.File, pcln []byte) uint64 {
	// Header: magic uint32, 2 pad bytes, minLC, ptrSize, nfunc, nfiles, textStart.
	if len(pcln) >= 8 {
		ptr := int(pcln[7])
		magic := ef.ByteOrder.Uint32(pcln)
		if (magic == 0xfffffff0 || magic == 0xfffffff1) && (ptr == 4 || ptr == 8) && len(pcln) >= 8+3*ptr {
			var v uint64
			if ptr == 8 {
				v = ef.ByteOrder.Uint64(pcln[8+2*ptr:])
			} else {
				v = uint64(ef.ByteOrder.Uint32(pcln[8+2*ptr:]))
			}
			if v != 0 {
				return v
			}
		}
	}
	if syms, err := ef.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" {
				return s.Value
			}
		}
	}
	if s := ef.Section(".text"); s != nil {
		return s.Addr
	}
	return 0
}

// Close releases the executable file. It is safe to call more than once.
func (t *Table) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		return nil
	}
	err := t.file.Close()
	t.file = nil
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	if t.unmap != nil {
		err = errors.Join(err, t.unmap())
		t.unmap = nil
	}
	return err
}

// Machine is the executable's architecture.
func (t *Table) Machine() elf.Machine { return t.machine }

// Lookup resolves a function by its fully qualified name
// ("runtime.stopTheWorldWithSema", "main.(*server).handle").
//
// The error wraps [ErrNotFound] if there is no such function.
func (t *Table) Lookup(name string) (Func, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.file == nil { // the line table may be unmapped
		return Func{}, fmt.Errorf("lookup %s: %w", name, os.ErrClosed)
	}
	fnEntry, fnEnd, ok := t.lookup(name)
	if !ok {
		return Func{}, fmt.Errorf("lookup %s: %w", name, ErrNotFound)
	}
	if fnEnd <= fnEntry {
		return Func{}, fmt.Errorf("lookup %s: empty function: %w", name, ErrNotFound)
	}
	entry, end := t.textBase+fnEntry, t.textBase+fnEnd
	off, err := t.fileOffset(entry)
	if err != nil {
		return Func{}, fmt.Errorf("lookup %s: %w", name, err)
	}
	return Func{Name: name, Entry: entry, End: end, FileOffset: off}, nil
}

// vaddr converts an offset in the file to a link-time virtual address
// through the executable PT_LOAD program header that maps it.
func (t *Table) vaddr(fileOff uint64) (uint64, error) {
	for _, p := range t.elf.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		if p.Off <= fileOff && fileOff < p.Off+p.Filesz {
			return fileOff - p.Off + p.Vaddr, nil
		}
	}
	return 0, fmt.Errorf("file offset %#x is in no executable segment: %w", fileOff, bpf.ErrNotSupported)
}

// fileOffset converts a link-time virtual address to an offset in the file
// through the executable PT_LOAD program header that maps it.
func (t *Table) fileOffset(vaddr uint64) (uint64, error) {
	for _, p := range t.elf.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		if p.Vaddr <= vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address %#x is in no executable segment: %w", vaddr, bpf.ErrNotSupported)
}

// Code returns the machine code of fn, read from the executable file.
func (t *Table) Code(fn Func) ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.file == nil {
		return nil, fmt.Errorf("read code of %s: %w", fn.Name, os.ErrClosed)
	}
	const maxFunc = 16 << 20 // no Go function is this large; bounds a corrupt table
	if fn.End <= fn.Entry || fn.Size() > maxFunc {
		return nil, fmt.Errorf("read code of %s: implausible size %d", fn.Name, fn.Size())
	}
	buf := make([]byte, fn.Size())
	if _, err := t.file.ReadAt(buf, int64(fn.FileOffset)); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read code of %s: %w", fn.Name, err)
	}
	return buf, nil
}

// RetOffsets returns the offset, relative to fn's entry, of every return
// instruction of fn. See the package-level [RetOffsets].
func (t *Table) RetOffsets(fn Func) ([]uint64, error) {
	code, err := t.Code(fn)
	if err != nil {
		return nil, err
	}
	return RetOffsets(t.machine, code)
}

// EntryOffset returns the offset of the cheapest instruction to probe for
// "fn was called". See the package-level [EntryOffset].
func (t *Table) EntryOffset(fn Func) (off uint64, emulated bool, err error) {
	code, err := t.Code(fn)
	if err != nil {
		return 0, false, err
	}
	return EntryOffset(t.machine, code)
}
