//go:build !linux

package scenarios_test

import "time"

// hostLoad knows nothing of other processes outside Linux: no
// cpu.starvation verdict in a healthy run is excused.
type hostLoad struct{}

func watchHost() *hostLoad { return &hostLoad{} }

func (*hostLoad) close() {}

func (*hostLoad) starvedByOthers(time.Time) (bool, float64) { return false, 0 }
