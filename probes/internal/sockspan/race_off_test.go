//go:build !race

package sockspan

const raceEnabled = false
