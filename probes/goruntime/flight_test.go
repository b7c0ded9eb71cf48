package goruntime

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/probes"
)

func TestFlightRecorder(t *testing.T) {
	p := startedProbe(t, WithFlightRecorder(time.Second, 4<<20))
	if st := p.Status(); st.State != probes.StateOn {
		t.Fatalf("status %v", st)
	}
	allocPressure(16 << 20) // something to record
	path := filepath.Join(t.TempDir(), "moment.trace")
	if err := p.SaveFlightRecord(path); err != nil {
		t.Fatalf("SaveFlightRecord: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// An execution trace starts with "go 1.NN trace\x00\x00\x00".
	if !bytes.HasPrefix(data, []byte("go 1.")) || !bytes.Contains(data[:16], []byte(" trace")) || len(data) < 1024 {
		t.Errorf("not an execution trace: %d bytes, header %q", len(data), data[:min(len(data), 16)])
	}
	if err := p.SaveFlightRecord(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwriting: %v, want fs.ErrExist", err)
	}

	// Only one flight recorder per process: a second probe runs degraded.
	q := startedProbe(t, WithFlightRecorder(0, 0))
	if st := q.Status(); st.State != probes.StateDegraded || st.Reason == "" {
		t.Errorf("second recorder: status %v, want degraded", st)
	}
	if _, err := q.WriteFlightRecord(&bytes.Buffer{}); !errors.Is(err, ErrFlightRecorderOff) {
		t.Errorf("degraded probe WriteFlightRecord: %v", err)
	}

	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteFlightRecord(&bytes.Buffer{}); !errors.Is(err, ErrFlightRecorderOff) {
		t.Errorf("after Shutdown: %v, want ErrFlightRecorderOff", err)
	}
	missing := filepath.Join(t.TempDir(), "none.trace")
	if err := p.SaveFlightRecord(missing); !errors.Is(err, ErrFlightRecorderOff) {
		t.Errorf("after Shutdown Save: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed save left a file behind: %v", err)
	}
}

func TestFlightRecorderOffByDefault(t *testing.T) {
	p := startedProbe(t)
	if _, err := p.WriteFlightRecord(&bytes.Buffer{}); !errors.Is(err, ErrFlightRecorderOff) {
		t.Errorf("WriteFlightRecord without option: %v", err)
	}
}
