package kernel

import "time"

// WithGCAssistHold shortens how long the assist share must stay under the
// threshold before the probes are detached (10 s otherwise).
func WithGCAssistHold(d time.Duration) Option {
	return optionFunc(func(c config) config {
		c.assistHold = d
		return c
	})
}

// GateStep runs one step of an assist gate (see assistGate.step) over a
// series of the runtime's cumulative readings, one a second from start,
// and returns whether the probes should be attached after each.
func GateStep(threshold float64, hold time.Duration, attached bool, readings [][2]float64) []bool {
	g := &assistGate{threshold: threshold, hold: hold}
	start := time.Unix(1000, 0)
	out := make([]bool, len(readings))
	for i, r := range readings {
		attached = g.step(start.Add(time.Duration(i)*time.Second), r[0], r[1], attached)
		out[i] = attached
	}
	return out
}
