package goruntime

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

var hotSink []byte

// knownAllocator is the function the hotspot test expects on top.
//
//go:noinline
func knownAllocator(n int) {
	for range n {
		hotSink = make([]byte, 256<<10)
	}
}

//go:noinline
func smallAllocator(n int) {
	for range n {
		hotSink = make([]byte, 1<<10)
	}
}

func TestHotspotTopSiteIsKnownFunction(t *testing.T) {
	h := newHotspotter(5)
	runtime.GC()
	runtime.GC()
	t0 := time.Now()
	if _, ok := h.round(t0); ok {
		t.Fatal("first round must only set the baseline")
	}
	knownAllocator(2000) // ~500 MiB
	smallAllocator(2000) // ~2 MiB
	// The heap profile publishes allocations at the end of GC cycles.
	runtime.GC()
	runtime.GC()
	t1 := t0.Add(2 * time.Second) // a fixed interval makes the rate exact
	res, ok := h.round(t1)
	if !ok {
		t.Fatal("second round returned no result")
	}
	if len(res.Sites) == 0 {
		t.Fatal("no allocation sites")
	}
	top := res.Sites[0]
	if !strings.HasSuffix(top.Function, ".knownAllocator") {
		t.Fatalf("top site %q, want knownAllocator; sites: %+v", top.Function, res.Sites)
	}
	if !strings.HasSuffix(top.File, "hotspots_test.go") || top.Line == 0 {
		t.Errorf("top site file %s:%d", top.File, top.Line)
	}
	// 500 MiB over 2 s, sampled: allow the sampling error.
	const want = 2000 * (256 << 10) / 2.0
	if top.BytesPerSecond < 0.7*want || top.BytesPerSecond > 1.3*want {
		t.Errorf("top site %v B/s, want about %v", top.BytesPerSecond, want)
	}
	if res.Interval != 2*time.Second || res.TotalBytesPerSecond < top.BytesPerSecond {
		t.Errorf("interval %v total %v", res.Interval, res.TotalBytesPerSecond)
	}
	for _, s := range res.Sites {
		if strings.HasPrefix(s.Function, "runtime.") {
			t.Errorf("runtime frame reported as site: %+v", s)
		}
	}

	// Next interval: nothing allocated by knownAllocator → it drops out.
	runtime.GC()
	res, _ = h.round(t1.Add(time.Second))
	for _, s := range res.Sites {
		if strings.HasSuffix(s.Function, ".knownAllocator") && s.BytesPerSecond > want/100 {
			t.Errorf("knownAllocator still reported at %v B/s with no allocations", s.BytesPerSecond)
		}
	}
}

func TestHotspotsInSnapshot(t *testing.T) {
	p := startedProbe(t, WithHotspots(time.Hour, 3))
	knownAllocator(500)
	runtime.GC()
	runtime.GC()
	p.analyzeHotspots(time.Now())
	s := p.Snapshot()
	if len(s.Hotspots.Sites) == 0 || len(s.Hotspots.Sites) > 3 {
		t.Fatalf("snapshot hotspots: %+v", s.Hotspots)
	}
	if !strings.HasSuffix(s.Hotspots.Sites[0].Function, ".knownAllocator") {
		t.Errorf("top site %q", s.Hotspots.Sites[0].Function)
	}
}

var retained [][]byte

//go:noinline
func retainingAllocator(n int) {
	for range n {
		b := make([]byte, 256<<10)
		if len(retained) < 256 { // keeps 64 MiB live, the rest is garbage
			retained = append(retained, b)
		}
	}
}

// TestAllocationPressureAcceptance provokes allocation pressure in one known
// function and checks, through the probe's snapshot, that GC pauses, heap
// growth and that function as the top allocation site are all visible.
func TestAllocationPressureAcceptance(t *testing.T) {
	p := manualProbe(t, WithHotspots(time.Hour, 5))
	defer func() { retained = nil }()
	runtime.GC()
	time.Sleep(2 * time.Millisecond)
	p.collect(time.Now())
	before := p.Snapshot()

	retainingAllocator(1024) // 256 MiB allocated, 64 MiB kept
	runtime.GC()
	runtime.GC() // publishes the heap profile
	time.Sleep(2 * time.Millisecond)
	p.collect(time.Now())
	p.analyzeHotspots(time.Now())
	s := p.Snapshot()

	if s.GCPausesTotal <= before.GCPausesTotal || s.GCPauses == 0 || s.GCPauseMax <= 0 {
		t.Errorf("GC pauses not visible: total %d → %d, window %d, max %v",
			before.GCPausesTotal, s.GCPausesTotal, s.GCPauses, s.GCPauseMax)
	}
	if s.HeapGrowthRate <= 0 || s.HeapLive < before.HeapLive+48<<20 {
		t.Errorf("heap growth not visible: rate %v B/s, live %d → %d", s.HeapGrowthRate, before.HeapLive, s.HeapLive)
	}
	if len(s.Hotspots.Sites) == 0 || !strings.HasSuffix(s.Hotspots.Sites[0].Function, ".retainingAllocator") {
		t.Errorf("top allocation site is not retainingAllocator: %+v", s.Hotspots.Sites)
	}
}
