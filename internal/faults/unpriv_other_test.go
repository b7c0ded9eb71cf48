//go:build !linux

package faults

func runUnprivilegedChild() int { return 2 }
