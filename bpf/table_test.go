package bpf

import (
	"testing"
	"time"
)

// fakeKernel adds to the slot that holds key g, as the kernel programs do.
func fakeKernel(t *testing.T, tab *table, g uint64, offcpu time.Duration, syscalls uint64) {
	t.Helper()
	h := slotHash(g)
	for p := uint32(0); p < probeLimit; p++ {
		s := &tab.slots[(h+p)&tab.mask]
		if s.Key == g {
			s.OffcpuNs += uint64(offcpu)
			s.SysCount[SyscallFile] += syscalls
			return
		}
	}
	t.Fatalf("key %#x not published", g)
}

func TestTableNestedOwnership(t *testing.T) {
	tab := newTable(make([]slot, 16), new(uint64), 0)
	const g = 0xc000123456
	tab.begin(g, trace(1), span(1)) // parent
	fakeKernel(t, tab, g, 10*time.Millisecond, 1)
	tab.begin(g, trace(1), span(2)) // child: owns the time now
	fakeKernel(t, tab, g, 20*time.Millisecond, 2)
	child, ok := tab.end(span(2))
	if !ok {
		t.Fatal("end child: not found")
	}
	fakeKernel(t, tab, g, 40*time.Millisecond, 4) // parent resumes
	parent, ok := tab.end(span(1))
	if !ok {
		t.Fatal("end parent: not found")
	}
	if child.OffCPU != 20*time.Millisecond || child.Syscalls[SyscallFile] != 2 {
		t.Errorf("child = %+v, want 20ms off-CPU, 2 file syscalls", child)
	}
	if parent.OffCPU != 50*time.Millisecond || parent.Syscalls[SyscallFile] != 5 {
		t.Errorf("parent = %+v, want 50ms off-CPU, 5 file syscalls", parent)
	}
	if n := tab.open(); n != 0 {
		t.Errorf("open spans after both ended = %d", n)
	}
	// Totals are the sum of the spans' own counters: nothing counts twice.
	tot := tab.totals()
	if tot.Spans != 2 || tot.OffCPU != 70*time.Millisecond || tot.TotalSyscalls() != 7 {
		t.Errorf("totals = %+v, want 2 spans, 70ms off-CPU, 7 syscalls", tot)
	}
	tab.resetTotals()
	if tot := tab.totals(); tot != (TimingTotals{}) {
		t.Errorf("totals after reset = %+v", tot)
	}
	for i := range tab.slots {
		if tab.slots[i].Key != 0 {
			t.Errorf("slot %d still holds key %#x", i, tab.slots[i].Key)
		}
	}
}

// TestTableSubtree: a span's subtree holds its own time and that of the
// spans enclosed in it on the same goroutine (a server span and its
// database span), each counted once; a grandchild reaches the root through
// its parent.
func TestTableSubtree(t *testing.T) {
	tab := newTable(make([]slot, 16), new(uint64), 0)
	const g = 0xc000777777
	tab.begin(g, trace(1), span(1)) // root
	fakeKernel(t, tab, g, 1*time.Millisecond, 1)
	tab.begin(g, trace(1), span(2)) // child
	fakeKernel(t, tab, g, 2*time.Millisecond, 2)
	tab.begin(g, trace(1), span(3)) // grandchild
	fakeKernel(t, tab, g, 4*time.Millisecond, 4)
	own3, tree3, _ := tab.endTree(span(3))
	own2, tree2, _ := tab.endTree(span(2))
	fakeKernel(t, tab, g, 8*time.Millisecond, 8)
	own1, tree1, _ := tab.endTree(span(1))
	for _, c := range []struct {
		name      string
		own, tree Counters
		o, tr     time.Duration
	}{
		{"grandchild", own3, tree3, 4 * time.Millisecond, 4 * time.Millisecond},
		{"child", own2, tree2, 2 * time.Millisecond, 6 * time.Millisecond},
		{"root", own1, tree1, 9 * time.Millisecond, 15 * time.Millisecond},
	} {
		if c.own.OffCPU != c.o || c.tree.OffCPU != c.tr {
			t.Errorf("%s: own %v subtree %v, want %v and %v", c.name, c.own.OffCPU, c.tree.OffCPU, c.o, c.tr)
		}
	}
	if tree1.TotalSyscalls() != 15 {
		t.Errorf("root subtree: %d syscalls, want 15", tree1.TotalSyscalls())
	}
}

func TestTableParentEndsFirst(t *testing.T) {
	tab := newTable(make([]slot, 16), new(uint64), 0)
	const g = 0xc000abcdef
	tab.begin(g, trace(1), span(1))
	fakeKernel(t, tab, g, 1*time.Millisecond, 0)
	tab.begin(g, trace(1), span(2))
	fakeKernel(t, tab, g, 2*time.Millisecond, 0)
	parent, _ := tab.end(span(1)) // not the owner: keeps what it owned
	fakeKernel(t, tab, g, 4*time.Millisecond, 0)
	child, _ := tab.end(span(2))
	if parent.OffCPU != 1*time.Millisecond || child.OffCPU != 6*time.Millisecond {
		t.Errorf("parent %v child %v, want 1ms and 6ms", parent.OffCPU, child.OffCPU)
	}
	if tab.slots[slotHash(g)&tab.mask].Key != 0 {
		t.Error("key still published")
	}
}

func TestTableDropsAreCounted(t *testing.T) {
	tab := newTable(make([]slot, 8), new(uint64), 3)
	// 8 slots, probe window 8: the ninth goroutine key finds no slot.
	for g := uint64(1); g <= 8; g++ {
		if !tab.begin(g<<12, trace(1), span(byte(g))) && g <= 3 {
			t.Fatalf("begin %d failed with free room", g)
		}
	}
	if got := tab.spanDrops.Load(); got != 5 {
		t.Errorf("span drops = %d, want 5 (3 records)", got)
	}
	for g := uint64(1); g <= 3; g++ {
		if _, ok := tab.end(span(byte(g))); !ok {
			t.Errorf("end %d: not found", g)
		}
	}
	if _, ok := tab.end(span(9)); ok {
		t.Error("end of an unknown span reported ok")
	}
	// Fill every slot with distinct keys, then one more.
	tab = newTable(make([]slot, 8), new(uint64), 100)
	for i := range 8 {
		if !tab.begin(uint64(i+1)<<20, trace(1), span(byte(i+1))) {
			t.Fatalf("begin %d failed", i)
		}
	}
	if tab.begin(9<<20, trace(1), span(9)) {
		t.Error("begin succeeded with every slot taken")
	}
	if got := tab.slotDrops.Load(); got != 1 {
		t.Errorf("slot drops = %d, want 1", got)
	}
	// Duplicate span IDs and zero keys are refused, not double-counted.
	if tab.begin(1<<20, trace(1), span(1)) || tab.begin(0, trace(1), span(20)) {
		t.Error("duplicate or zero-key begin accepted")
	}
}

func TestTableClosedIsNoop(t *testing.T) {
	tab := newTable(make([]slot, 8), new(uint64), 0)
	tab.begin(1<<12, trace(1), span(1))
	tab.close()
	if tab.begin(2<<12, trace(1), span(2)) {
		t.Error("begin after close")
	}
	if _, ok := tab.end(span(1)); ok {
		t.Error("end after close")
	}
}

func TestTableAllocs(t *testing.T) {
	tab := newTable(make([]slot, 64), new(uint64), 0)
	g := uint64(getg())
	if g == 0 {
		g = 1 << 12
	}
	allocs := testing.AllocsPerRun(1000, func() {
		tab.begin(g, trace(1), span(1))
		tab.end(span(1))
	})
	if allocs != 0 {
		t.Errorf("begin+end allocate %v times", allocs)
	}
}

func BenchmarkTableBeginEnd(b *testing.B) {
	tab := newTable(make([]slot, 4096), new(uint64), 0)
	g := uint64(getg())
	b.ReportAllocs()
	for b.Loop() {
		tab.begin(g, trace(1), span(1))
		tab.end(span(1))
	}
}

func span(i byte) [8]byte   { return [8]byte{1, 2, 3, 4, 5, 6, 7, i} }
func trace(i byte) [16]byte { return [16]byte{15: i} }
