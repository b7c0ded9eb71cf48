//go:build race

package netspan

const raceEnabled = true
