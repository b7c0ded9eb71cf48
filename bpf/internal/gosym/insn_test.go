package gosym

import (
	"debug/elf"
	"errors"
	"slices"
	"testing"

	"github.com/verdict-obs/verdict/bpf"
)

func TestRetOffsetsDecodesInstructions(t *testing.T) {
	code := []byte{
		0xb8, 0xc3, 0xc3, 0xc3, 0xc3, // mov eax, 0xc3c3c3c3: c3 bytes that are not RETs
		0x74, 0x01, // je +1
		0xc3,             // ret            @7
		0x48, 0x89, 0xd8, // mov rax, rbx
		0xc3,             // ret      @11
		0xcc, 0xcc, 0xcc, // padding
	}
	got, err := RetOffsets(elf.EM_X86_64, code)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{7, 11}; !slices.Equal(got, want) {
		t.Fatalf("RetOffsets = %v, want %v", got, want)
	}
	if _, err := RetOffsets(elf.EM_X86_64, []byte{0x90, 0x06}); err == nil {
		t.Fatal("undecodable code gave no error")
	}
	if _, err := RetOffsets(elf.EM_RISCV, code); !errors.Is(err, bpf.ErrNotSupported) {
		t.Fatalf("riscv: %v, want ErrNotSupported", err)
	}
}

func TestRetOffsetsARM64(t *testing.T) {
	code := []byte{
		0xfd, 0x7b, 0xbf, 0xa9, // stp x29, x30, [sp, #-16]!
		0xc0, 0x03, 0x5f, 0xd6, // ret @4
		0x00, 0x00, 0x00, 0x00, // udf / literal
		0xc0, 0x03, 0x5f, 0xd6, // ret @12
	}
	got, err := RetOffsets(elf.EM_AARCH64, code)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{4, 12}; !slices.Equal(got, want) {
		t.Fatalf("RetOffsets = %v, want %v", got, want)
	}
}

func TestEntryOffset(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     []byte
		off      uint64
		emulated bool
	}{
		{"small frame", []byte{
			0x49, 0x3b, 0x66, 0x10, // cmp rsp, [r14+0x10]
			0x0f, 0x86, 0x6a, 0x02, 0x00, 0x00, // jbe morestack
			0x55,             // push rbp @10
			0x48, 0x89, 0xe5, // mov rbp, rsp
		}, 10, true},
		{"large frame, system stack", []byte{
			0x4c, 0x8d, 0x64, 0x24, 0xe8, // lea r12, [rsp-0x18]
			0x4d, 0x3b, 0x66, 0x18, // cmp r12, [r14+0x18]
			0x0f, 0x86, 0x1e, 0x04, 0x00, 0x00, // jbe
			0x55, // push rbp @15
		}, 15, true},
		{"nosplit", []byte{0x55, 0x48, 0x89, 0xe5, 0xc3}, 0, true},
		{"push r12 nosplit", []byte{0x41, 0x54, 0xc3}, 0, true},
		{"leaf without frame", []byte{0x48, 0x89, 0xd8, 0xc3}, 0, false},
		{"stack check then no push", []byte{
			0x49, 0x3b, 0x66, 0x10, 0x76, 0x05, // cmp; jbe short
			0x48, 0x83, 0xec, 0x10, // sub rsp, 16
		}, 0, false},
		{"branch before check", []byte{0xeb, 0x00, 0x55}, 0, false},
		{"truncated", []byte{0x49, 0x3b}, 0, false},
		{"prefix only", []byte{0x48}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, em, err := EntryOffset(elf.EM_X86_64, tc.code)
			if err != nil || off != tc.off || em != tc.emulated {
				t.Fatalf("EntryOffset = %d, %v, %v; want %d, %v", off, em, err, tc.off, tc.emulated)
			}
		})
	}
	if off, em, err := EntryOffset(elf.EM_AARCH64, []byte{0, 0, 0, 0}); off != 0 || em || err != nil {
		t.Fatalf("arm64: %d %v %v", off, em, err)
	}
}
