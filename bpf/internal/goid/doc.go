// Package goid reads the calling goroutine's key: the address of the
// runtime's g, which the kernel programs of package bpf and bpf/sock find in
// the registers of a system call and in the thread's TLS. User space and the
// kernel agree on it without a uprobe; each user calibrates it at load time.
package goid
