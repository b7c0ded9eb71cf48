//go:build race

package testutil

// Race reports whether the race detector is on (allocation counts differ
// under it).
const Race = true
