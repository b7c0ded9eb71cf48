//go:build !linux

package nanosleep

import "time"

// Block sleeps for d with time.Sleep: without Linux there is no kernel
// measurement that would tell the two apart. It returns 0.
func Block(d time.Duration) (interrupts int) {
	time.Sleep(d)
	return 0
}
