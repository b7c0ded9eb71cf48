package kernel_test

import (
	"slices"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/probes/kernel"
)

// TestAssistGate: the probes attach in the first second the runtime's
// assist share reaches the threshold, stay attached while it holds and
// for the hold time after it falls, and detach after that; a second
// without a finished GC cycle (no CPU figures moved) counts as under.
func TestAssistGate(t *testing.T) {
	const th = 0.01
	// Cumulative (assist, total) CPU seconds, one reading a second, 2 CPUs.
	r := [][2]float64{
		{0, 0},            // baseline
		{0.001, 2},        // 0.05 %: under
		{0.061, 4},        // 3 %: attach
		{0.101, 6},        // 2 %: attached
		{0.101, 6},        // no GC cycle ended: under since here
		{0.102, 8},        // under, 1 s
		{0.103, 10},       // under, 2 s
		{0.104, 12},       // under, 3 s: hold (3 s) over, detach
		{0.105, 14},       // under: stays detached
		{0.105 + 0.2, 16}, // 10 %: attach again
	}
	got := kernel.GateStep(th, 3*time.Second, false, r)
	want := []bool{false, false, true, true, true, true, true, false, false, true}
	if !slices.Equal(got, want) {
		t.Errorf("attached after each reading = %v, want %v", got, want)
	}
	// Started attached (as Start leaves them), a quiet process detaches
	// once the hold has passed, counted from the first quiet reading.
	quiet := [][2]float64{{0, 0}, {0, 2}, {0, 4}, {0, 6}, {0, 8}}
	if got, want := kernel.GateStep(th, 2*time.Second, true, quiet), []bool{true, true, false, false, false}; !slices.Equal(got, want) {
		t.Errorf("quiet process: %v, want %v", got, want)
	}
}
