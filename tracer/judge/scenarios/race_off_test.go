//go:build !race

package scenarios_test

import "testing"

func skipUnderRace(*testing.T) {}

const raceEnabled = false
