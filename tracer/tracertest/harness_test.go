package tracertest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeTB is a test inside a test: it records what the helper reports
// (Errorf, Logf) instead of failing the outer test, so that the outer test
// can assert that the inner one failed, and why. TempDir, ArtifactDir and
// the like are the outer test's.
type fakeTB struct {
	testing.TB
	name   string
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	errs     []string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Name() string                 { return f.name }
func (f *fakeTB) Helper()                      {}
func (f *fakeTB) Context() context.Context     { return f.ctx }
func (f *fakeTB) Error(args ...any)            { f.record(&f.errs, fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(s string, args ...any) { f.record(&f.errs, fmt.Sprintf(s, args...)) }
func (f *fakeTB) Log(args ...any)              { f.record(&f.logs, fmt.Sprint(args...)) }
func (f *fakeTB) Logf(s string, args ...any)   { f.record(&f.logs, fmt.Sprintf(s, args...)) }
func (f *fakeTB) Fatal(args ...any)            { f.Error(args...); runtime.Goexit() }
func (f *fakeTB) Fatalf(s string, args ...any) {
	f.Errorf(s, args...)
	runtime.Goexit()
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs) > 0
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, fn)
	f.mu.Unlock()
}

func (f *fakeTB) record(to *[]string, s string) {
	f.mu.Lock()
	*to = append(*to, s)
	f.mu.Unlock()
}

func (f *fakeTB) errors() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.errs, "\n")
}

func (f *fakeTB) logged() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.logs, "\n")
}

// inner runs body as a test of its own on a goroutine of its own (as
// testing runs each test), then its cleanups (last first), and returns
// what it reported.
func inner(t testing.TB, name string, body func(tb testing.TB)) *fakeTB {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeTB{TB: t, name: t.Name() + "/" + name, ctx: ctx, cancel: cancel}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			f.cancel()
			for i := len(f.cleanups) - 1; i >= 0; i-- {
				f.cleanups[i]()
			}
		}()
		body(f)
	}()
	<-done
	return f
}

// mustFail asserts that the inner test failed with every one of words in
// one of its errors.
func mustFail(t *testing.T, f *fakeTB, words ...string) {
	t.Helper()
	if !f.Failed() {
		t.Fatalf("%s passed; log:\n%s", f.name, f.logged())
	}
	errs := f.errors()
	for _, w := range words {
		if !strings.Contains(errs, w) {
			t.Errorf("%s: failure lacks %q:\n%s", f.name, w, errs)
		}
	}
}

// mustPass asserts that the inner test passed.
func mustPass(t *testing.T, f *fakeTB) {
	t.Helper()
	if f.Failed() {
		t.Fatalf("%s failed:\n%s\nlog:\n%s", f.name, f.errors(), f.logged())
	}
}
