//go:build !race

package main

import "testing"

func skipUnderRace(*testing.T) {}

// testRows is the orders the tests seed: the default.
const testRows = 0
