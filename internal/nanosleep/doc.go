// Package nanosleep blocks the calling thread in the kernel, the one way
// verdict's calibration, tests and demo make a goroutine visibly off-CPU.
package nanosleep
