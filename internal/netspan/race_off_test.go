//go:build !race

package netspan

const raceEnabled = false
