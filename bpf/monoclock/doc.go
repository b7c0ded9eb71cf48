// Package monoclock bridges Go's time.Time and CLOCK_MONOTONIC, the clock
// of the kernel's bpf_ktime_get_ns, so that span times and kernel event
// times can be compared.
//
// A time.Time from time.Now carries a monotonic reading, so once one
// time.Time is paired with one CLOCK_MONOTONIC reading, every later
// time.Time converts exactly through t.Sub and ignores wall-clock steps.
// The pairing itself is the only error: [Bridge] reads the kernel clock
// between two time.Now calls several times and keeps the closest pair, so
// a preemption between two reads does not shift every conversion by the
// length of the preemption.
package monoclock
