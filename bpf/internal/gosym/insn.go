package gosym

import (
	"debug/elf"
	"errors"
	"fmt"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"

	"github.com/verdict-obs/verdict/bpf"
)

// RetOffsets returns the offset of every return instruction in code, the
// machine code of one function for machine (elf.EM_X86_64 or elf.EM_AARCH64).
//
// A probe on each of them fires once for every normal return of the
// function; exits through a panic, a tail jump or runtime.Goexit are not
// returns and are not seen. The result is empty (not an error) when the
// function never returns.
//
// On amd64 the whole function is decoded; an undecodable byte sequence is an
// error, since skipping it could hide a return. On arm64 instructions are
// fixed-size and words that do not decode (literal pools) are skipped.
func RetOffsets(machine elf.Machine, code []byte) ([]uint64, error) {
	switch machine {
	case elf.EM_X86_64:
		var rets []uint64
		for pc := 0; pc < len(code); {
			inst, err := x86asm.Decode(code[pc:], 64)
			if err == nil && inst.Op == 0 {
				// x86asm reports some truncated or invalid sequences as a
				// prefix with no operation rather than as an error.
				err = errors.New("no instruction")
			}
			if err != nil {
				if isPadding(code[pc:]) {
					break
				}
				return nil, fmt.Errorf("decode at +%#x: %w", pc, err)
			}
			if inst.Op == x86asm.RET {
				rets = append(rets, uint64(pc))
			}
			pc += inst.Len
		}
		return rets, nil
	case elf.EM_AARCH64:
		var rets []uint64
		for pc := 0; pc+4 <= len(code); pc += 4 {
			inst, err := arm64asm.Decode(code[pc : pc+4])
			if err != nil {
				continue
			}
			if inst.Op == arm64asm.RET {
				rets = append(rets, uint64(pc))
			}
		}
		return rets, nil
	default:
		return nil, fmt.Errorf("find return instructions on %s: %w", machine, bpf.ErrNotSupported)
	}
}

// isPadding reports whether b is only the INT3 filler the Go linker puts
// between functions.
func isPadding(b []byte) bool {
	for _, c := range b {
		if c != 0xcc {
			return false
		}
	}
	return true
}

// EntryOffset returns the offset of the instruction at which a probe for
// "the function was called" costs least, and whether the kernel emulates
// that instruction (true) or has to single-step it out of line (false).
//
// The instruction must run exactly once per call and before anything
// observable happens. On amd64 a Go function starts with a stack check
// ("cmp rsp, 16(r14)" or "lea r12, -N(rsp); cmp r12, 16(r14)", then a
// conditional jump to the morestack call), and the first instruction after
// it is usually "push rbp". The kernel's uprobe code emulates pushes of a
// general register (opcodes 0x50-0x57, optionally with a REX.B prefix) and
// relative jumps, calls and NOPs; it single-steps everything else, which
// costs about twelve times as much here (see FACTS.md). Neither the first
// instruction nor the stack-check jump is used for another reason too: they
// run again whenever the prologue's check fails, which happens not only
// when the stack must grow but also on every cooperative preemption (the
// scheduler poisons the stack guard), and execution then restarts at the
// entry; a probe there fires twice for one call. At the returned offset the
// argument registers still hold the arguments.
//
// When no emulated instruction qualifies, EntryOffset returns 0 and false.
// On arm64 it always returns 0 and false. Other machines get an error
// wrapping [bpf.ErrNotSupported].
func EntryOffset(machine elf.Machine, code []byte) (off uint64, emulated bool, err error) {
	switch machine {
	case elf.EM_X86_64:
		off, ok := x86EntryOffset(code)
		return off, ok, nil
	case elf.EM_AARCH64:
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("find entry instruction on %s: %w", machine, bpf.ErrNotSupported)
	}
}

func x86EntryOffset(code []byte) (uint64, bool) {
	const maxPrologue = 8 // instructions
	sawStackCheck := false
	pc := 0
	for i := 0; i < maxPrologue && pc < len(code); i++ {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Op == 0 {
			return 0, false
		}
		switch {
		case i == 0 && x86EmulatedPush(code[pc:pc+inst.Len]):
			// No stack check (nosplit): the first instruction is the push.
			return 0, true
		case inst.Op == x86asm.CMP && usesG(inst):
			sawStackCheck = true
		case sawStackCheck && isJcc(inst.Op):
			next := pc + inst.Len
			if next >= len(code) {
				return 0, false
			}
			nx, err := x86asm.Decode(code[next:], 64)
			if err != nil || nx.Op == 0 || !x86EmulatedPush(code[next:next+nx.Len]) {
				return 0, false
			}
			return uint64(next), true
		case isBranch(inst.Op):
			// Control flow before the stack check is done: not a prologue
			// we understand.
			return 0, false
		}
		pc += inst.Len
	}
	return 0, false
}

// x86EmulatedPush reports whether raw is a push of a 64-bit general
// register in a form arch/x86/kernel/uprobes.c emulates: 0x50+r, or 0x41
// 0x50+r for r8-r15.
func x86EmulatedPush(raw []byte) bool {
	switch len(raw) {
	case 1:
		return raw[0] >= 0x50 && raw[0] <= 0x57
	case 2:
		return raw[0] == 0x41 && raw[1] >= 0x50 && raw[1] <= 0x57
	}
	return false
}

// usesG reports whether inst reads memory relative to R14, the register
// that holds the current goroutine (g) in Go's amd64 register ABI: the
// stack-guard comparison.
func usesG(inst x86asm.Inst) bool {
	for _, a := range inst.Args {
		if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.R14 {
			return true
		}
	}
	return false
}

func isJcc(op x86asm.Op) bool {
	switch op {
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JG, x86asm.JGE,
		x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP, x86asm.JNS, x86asm.JO,
		x86asm.JP, x86asm.JS:
		return true
	}
	return false
}

func isBranch(op x86asm.Op) bool {
	switch op {
	case x86asm.JMP, x86asm.CALL, x86asm.RET, x86asm.LRET, x86asm.UD1, x86asm.UD2, x86asm.INT:
		return true
	}
	return isJcc(op)
}
