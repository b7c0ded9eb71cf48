package goruntime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/trace"
	"sync"
	"time"
)

// flightRecorder owns the process's runtime/trace flight recorder while
// the probe runs.
type flightRecorder struct {
	mu sync.Mutex // serialises WriteTo and stop
	fr *trace.FlightRecorder
}

func (f *flightRecorder) start(minAge time.Duration, maxBytes uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: minAge, MaxBytes: maxBytes})
	if err := fr.Start(); err != nil {
		return fmt.Errorf("start flight recorder: %w", err)
	}
	f.fr = fr
	return nil
}

func (f *flightRecorder) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fr != nil {
		f.fr.Stop()
		f.fr = nil
	}
}

// WriteFlightRecord writes the flight recorder's window (the last seconds of
// execution trace, readable with `go tool trace`) to w. It returns
// [ErrFlightRecorderOff] unless the probe runs with [WithFlightRecorder] and
// the recorder started. Concurrent calls are serialised.
func (p *Probe) WriteFlightRecord(w io.Writer) (int64, error) {
	f := &p.flight
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fr == nil || !f.fr.Enabled() {
		return 0, ErrFlightRecorderOff
	}
	n, err := f.fr.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("write flight record: %w", err)
	}
	return n, nil
}

// SaveFlightRecord writes the flight recorder's window to a new file at path
// (created with mode 0o600; an existing file is an error wrapping
// fs.ErrExist). On error no partial file is left behind.
func (p *Probe) SaveFlightRecord(path string) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save flight record: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("save flight record: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := p.WriteFlightRecord(f); err != nil {
		if errors.Is(err, ErrFlightRecorderOff) {
			return err
		}
		return fmt.Errorf("save flight record: %w", err)
	}
	return nil
}
