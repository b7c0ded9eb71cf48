package bpf_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/verdict-obs/verdict/bpf"
)

func ExampleCheck() {
	p := bpf.Check()
	switch {
	case p.OK():
		fmt.Println("eBPF available")
	case errors.Is(p.Err, os.ErrPermission):
		fmt.Println("eBPF needs privileges:", p.Reason)
	case errors.Is(p.Err, bpf.ErrNotSupported):
		fmt.Println("eBPF not supported here:", p.Reason)
	}
}

func ExampleLoadTiming() {
	tm, err := bpf.LoadTiming(nil) // nil: default options
	if err != nil {
		fmt.Println("no kernel timing:", err)
		return
	}
	defer tm.Close()

	trace, span := [16]byte{1}, [8]byte{2}
	tm.Begin(trace, span) // on the goroutine that does the work
	f, _ := os.CreateTemp("", "example")
	f.Sync()
	f.Close()
	os.Remove(f.Name())
	c, _ := tm.End(span) // on any goroutine
	fmt.Println(c.Syscalls[bpf.SyscallFile] > 0)
}
