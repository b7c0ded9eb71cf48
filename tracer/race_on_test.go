//go:build race

package tracer

// raceEnabled: the race detector changes allocation counts (sync.Pool
// drops items at random), so allocation budgets are not checked under it.
const raceEnabled = true
