package ebpf

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePart is a part whose Start result and status the test decides; the
// reason logic of the composite is tested with it (the real parts' reasons
// depend on the machine, and are tested in privileged_linux_test.go).
type fakePart struct {
	name     string
	startErr error
	status   probes.Status
	hook     spanhook.Hook
	shut     int
}

func (f *fakePart) Name() string { return f.name }
func (f *fakePart) Start(context.Context) error {
	if f.startErr != nil {
		f.status = probes.Status{Name: f.name, State: probes.StateOff, Reason: f.startErr.Error()}
		return f.startErr
	}
	f.status = probes.Status{Name: f.name, State: probes.StateOn}
	return nil
}
func (f *fakePart) Shutdown(context.Context) error {
	f.shut++
	f.status = probes.Status{Name: f.name, State: probes.StateOff, Reason: "shut down"}
	return nil
}
func (f *fakePart) Status() probes.Status   { return f.status }
func (f *fakePart) SpanHook() spanhook.Hook { return f.hook }

type countHook struct{ starts, ends int }

func (h *countHook) SpanStart(trace.SpanContext, time.Time) { h.starts++ }
func (h *countHook) SpanEnd(_ trace.SpanContext, _, _ time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	h.ends++
	return append(dst, attribute.Bool("test.hook", true))
}

func composite(parts ...*fakePart) *Probe {
	p := &Probe{off: reasonNotStarted}
	for _, f := range parts {
		f.status = probes.Status{Name: f.name, State: probes.StateOff, Reason: "not started"}
		p.parts = append(p.parts, f)
	}
	return p
}

// errPerm reads as its reason, as bpf's preflight errors give theirs
// through bpf.Reason.
var errPerm = permError{}

type permError struct{}

func (permError) Error() string { return "missing CAP_BPF" }
func (permError) Unwrap() error { return os.ErrPermission }

func TestReasonsComeFromTheParts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kErr, sErr error
		wantErr    string
		want       string
	}{
		{"both on", nil, nil, "", "ebpf: on"},
		{"same reason", errPerm, errPerm, "missing CAP_BPF", "ebpf: off: missing CAP_BPF"},
		{"different reasons", errPerm, errors.New("no uprobes"), "kernel: off: missing CAP_BPF; gcstw: off: no uprobes",
			"ebpf: off: kernel: off: missing CAP_BPF; gcstw: off: no uprobes"},
		{"one off", nil, errors.New("no uprobes"), "", "ebpf: degraded: gcstw: off: no uprobes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakePart{name: "kernel", startErr: tc.kErr, hook: &countHook{}}
			s := &fakePart{name: "gcstw", startErr: tc.sErr, hook: &countHook{}}
			p := composite(k, s)
			if got := p.Status().String(); got != "ebpf: off: not started" {
				t.Errorf("before Start: %q", got)
			}
			err := p.Start(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Start: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("Start = %v, want %q", err, tc.wantErr)
			case tc.kErr == errPerm && !errors.Is(err, os.ErrPermission) && err != nil:
				t.Errorf("Start error %v does not unwrap to os.ErrPermission", err)
			}
			if got := p.Status().String(); got != tc.want {
				t.Errorf("Status = %q, want %q", got, tc.want)
			}
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if k.shut != b2i(tc.kErr == nil) || s.shut != b2i(tc.sErr == nil) {
				t.Errorf("Shutdown reached kernel %d, gcstw %d times; want only the started parts, once", k.shut, s.shut)
			}
			wantOff := "ebpf: off: shut down"
			if tc.kErr != nil && tc.sErr != nil {
				wantOff = tc.want // never ran: keep why
			}
			if got := p.Status().String(); got != wantOff {
				t.Errorf("after Shutdown: %q, want %q", got, wantOff)
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SpanHook is the kernel part's when it started, nil otherwise: the
// stop-the-world part's windows reach spans through package probes/gc.
func TestSpanHookOfStartedParts(t *testing.T) {
	kh, sh := &countHook{}, &countHook{}
	k := &fakePart{name: "kernel", hook: kh, startErr: errors.New("no tracepoints")}
	s := &fakePart{name: "gcstw", hook: sh}
	p := composite(k, s)
	if h := p.SpanHook(); h != nil {
		t.Fatalf("SpanHook before Start = %v, want nil", h)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := p.SpanHook(); h != nil {
		t.Fatalf("kernel part off: SpanHook = %T, want nil", h)
	}
	p2 := composite(&fakePart{name: "kernel", hook: kh}, &fakePart{name: "gcstw", hook: sh})
	if err := p2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := p2.SpanHook(); h != kh {
		t.Fatalf("both parts on: SpanHook = %T, want the kernel part's", h)
	}
	p.Shutdown(context.Background())
	p2.Shutdown(context.Background())
}

func TestLifecycleErrors(t *testing.T) {
	p := composite(&fakePart{name: "kernel"}, &fakePart{name: "gcstw"})
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); !errors.Is(err, probes.ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	if err := p.Start(ctx); !errors.Is(err, probes.ErrShutDown) {
		t.Errorf("Start after Shutdown = %v, want ErrShutDown", err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	q := composite(&fakePart{name: "kernel"}, &fakePart{name: "gcstw"})
	if err := q.Start(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a canceled context = %v", err)
	}
	if st := q.Status(); st.State != probes.StateOff {
		t.Errorf("after a canceled Start: %v", st)
	}
}

// The real parts, before Start: nothing runs, nothing is handed out.
func TestNewNotStarted(t *testing.T) {
	p, err := New(nil, WithMeterProvider(nil), WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != Name || p.Status().String() != "ebpf: off: not started" {
		t.Errorf("new probe: %s %q", p.Name(), p.Status())
	}
	if p.Kernel() != nil || p.STW() != nil || p.SpanHook() != nil {
		t.Error("parts handed out before Start")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
