//go:build !linux

package main

import "time"

// blockInKernel stands in for a blocking system call where eBPF cannot run.
func blockInKernel(d time.Duration) { time.Sleep(d) }
