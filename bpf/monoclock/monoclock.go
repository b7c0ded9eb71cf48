package monoclock

import (
	"errors"
	"time"
)

// ErrUnsupported is returned by [Now] and [Bridge] where CLOCK_MONOTONIC
// cannot be read (not Linux, or the call failed).
var ErrUnsupported = errors.New("monoclock: CLOCK_MONOTONIC not readable")

// tries is how many pairings [Bridge] takes to keep the tightest one.
const tries = 8

// Bridge pairs a CLOCK_MONOTONIC reading (nanoseconds) with the time.Time
// it corresponds to: of several readings taken between two time.Now calls,
// the one whose calls were closest together, paired with their midpoint.
// The error of the pairing is at most half that interval, which is
// returned as bound.
func Bridge() (mono int64, at time.Time, bound time.Duration, err error) {
	for i := 0; i < tries; i++ {
		t1 := time.Now()
		m, err := Now()
		if err != nil {
			return 0, time.Time{}, 0, err
		}
		d := time.Since(t1)
		if i == 0 || d < 2*bound {
			mono, at, bound = m, t1.Add(d/2), d/2
		}
	}
	return mono, at, bound, nil
}

// Clock converts time.Time values to CLOCK_MONOTONIC nanoseconds and
// back, from one [Bridge] pairing. The zero Clock converts nothing
// meaningfully; make one with [New].
type Clock struct {
	mono int64
	at   time.Time
}

// New returns a Clock from a fresh [Bridge] pairing.
func New() (Clock, error) {
	mono, at, _, err := Bridge()
	if err != nil {
		return Clock{}, err
	}
	return Clock{mono: mono, at: at}, nil
}

// Mono returns t on CLOCK_MONOTONIC, in nanoseconds.
func (c Clock) Mono(t time.Time) int64 { return c.mono + int64(t.Sub(c.at)) }

// Time returns the time.Time of a CLOCK_MONOTONIC reading.
func (c Clock) Time(mono int64) time.Time { return c.at.Add(time.Duration(mono - c.mono)) }
