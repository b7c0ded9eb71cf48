//go:build !race

package sqlxprobe

const raceEnabled = false
