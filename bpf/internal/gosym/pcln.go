package gosym

import (
	"encoding/binary"
)

// pclnIndex looks functions up by name directly in the bytes of a Go 1.18+
// line table (.gopclntab, magic 0xfffffff0 or 0xfffffff1), without
// building debug/gosym's table of every function and its name (tens of
// megabytes of garbage for a large binary, twice per process start: once
// per uprobe set). The layout is the runtime's pcHeader, functab and _func
// (runtime/symtab.go), as debug/gosym reads them.
type pclnIndex struct {
	order       binary.ByteOrder
	nfunc       int
	funcnametab []byte
	funcdata    []byte // starts with the functab: nfunc+1 (entryoff, funcoff) pairs
}

// newPclnIndex returns the index of data, or false for another line table
// version or an implausible header (then debug/gosym parses it).
func newPclnIndex(data []byte, order binary.ByteOrder) (*pclnIndex, bool) {
	if len(data) < 8 {
		return nil, false
	}
	magic := order.Uint32(data)
	if magic != 0xfffffff0 && magic != 0xfffffff1 || data[4] != 0 || data[5] != 0 {
		return nil, false
	}
	ptr := int(data[7])
	if ptr != 4 && ptr != 8 || len(data) < 8+8*ptr {
		return nil, false
	}
	word := func(i int) uint64 {
		if ptr == 8 {
			return order.Uint64(data[8+i*ptr:])
		}
		return uint64(order.Uint32(data[8+i*ptr:]))
	}
	// Words: nfunc, nfiles, textStart, funcnameOffset, cuOffset,
	// filetabOffset, pctabOffset, pclnOffset.
	nfunc, nameOff, pclnOff := word(0), word(3), word(7)
	size := uint64(len(data))
	if nfunc == 0 || nfunc > size || nameOff >= size || pclnOff >= size {
		return nil, false
	}
	x := &pclnIndex{order: order, nfunc: int(nfunc), funcnametab: data[nameOff:], funcdata: data[pclnOff:]}
	if uint64(len(x.funcdata)) < (2*nfunc+2)*4 {
		return nil, false
	}
	return x, true
}

// lookup returns the entry and end of the first function named name, as
// offsets from the start of the text (runtime.text).
func (x *pclnIndex) lookup(name string) (entry, end uint64, ok bool) {
	ft := x.funcdata
	for i := range x.nfunc {
		funcOff := uint64(x.order.Uint32(ft[(2*i+1)*4:]))
		// _func: entryOff uint32, nameOff int32, ...
		if funcOff+8 > uint64(len(ft)) {
			continue
		}
		nameOff := uint64(x.order.Uint32(ft[funcOff+4:]))
		if nameOff+uint64(len(name)) >= uint64(len(x.funcnametab)) {
			continue
		}
		n := x.funcnametab[nameOff:]
		if n[len(name)] != 0 || string(n[:len(name)]) != name {
			continue
		}
		entry = uint64(x.order.Uint32(ft[2*i*4:]))
		end = uint64(x.order.Uint32(ft[2*(i+1)*4:]))
		return entry, end, true
	}
	return 0, 0, false
}
