package spanhook

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/verdict-obs/verdict/internal/semconv"
)

func TestJoinUnmeasured(t *testing.T) {
	u := func(v string) attribute.KeyValue { return attribute.String(semconv.AttrUnmeasured, v) }
	a := attribute.Int("a", 1)
	b := attribute.Int("b", 2)
	for _, tc := range []struct {
		name string
		in   []attribute.KeyValue
		want []attribute.KeyValue
	}{
		{"none", []attribute.KeyValue{a, b}, []attribute.KeyValue{a, b}},
		{"one", []attribute.KeyValue{a, u("kernel: x"), b}, []attribute.KeyValue{a, u("kernel: x"), b}},
		{"three", []attribute.KeyValue{u("kernel: x"), a, u("gc.assist: y"), b, u("gc.mark: z")},
			[]attribute.KeyValue{u("kernel: x; gc.assist: y; gc.mark: z"), a, b}},
	} {
		got := JoinUnmeasured(append([]attribute.KeyValue(nil), tc.in...))
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: [%d] = %v, want %v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
	in := []attribute.KeyValue{a, u("kernel: x"), b}
	if n := testing.AllocsPerRun(1000, func() { JoinUnmeasured(in) }); n != 0 {
		t.Errorf("one attribute: %v allocs, want 0", n)
	}
	// The same reasons span after span: the joined value is reused.
	buf := make([]attribute.KeyValue, 0, 4)
	if n := testing.AllocsPerRun(1000, func() {
		JoinUnmeasured(append(buf[:0], u("kernel: x"), a, u("gc.mark: y")))
	}); n != 0 {
		t.Errorf("repeated reasons: %v allocs, want 0", n)
	}
}

// Spans of different kinds lack different fields (a server span and a
// database span of one request, without eBPF): alternating reason sets
// reuse their joined values too.
func TestJoinUnmeasuredAlternating(t *testing.T) {
	u := func(v string) attribute.KeyValue { return attribute.String(semconv.AttrUnmeasured, v) }
	a := attribute.Int("a", 1)
	sets := [][]attribute.KeyValue{
		{u("kernel: off"), a, u("socket: off")},
		{u("kernel: off"), u("socket: no socket"), a},
		{a, u("gc.mark: y"), u("kernel: off"), u("socket: off")},
	}
	buf := make([]attribute.KeyValue, 0, 8)
	for _, s := range sets {
		JoinUnmeasured(append(buf[:0], s...)) // the first of each is built
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		JoinUnmeasured(append(buf[:0], sets[i%len(sets)]...))
		i++
	}); n != 0 {
		t.Errorf("alternating reason sets: %v allocs, want 0", n)
	}
	got := JoinUnmeasured(append(buf[:0], sets[2]...))
	if want := u("gc.mark: y; kernel: off; socket: off"); len(got) != 2 || got[1] != want {
		t.Errorf("got %v, want [a %v]", got, want)
	}
}

// BenchmarkJoinUnmeasured joins the reasons of two alternating span
// kinds.
func BenchmarkJoinUnmeasured(b *testing.B) {
	u := func(v string) attribute.KeyValue { return attribute.String(semconv.AttrUnmeasured, v) }
	sets := [][]attribute.KeyValue{
		{u("kernel: off"), u("socket: off")},
		{u("kernel: off"), u("socket: no socket")},
	}
	buf := make([]attribute.KeyValue, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		JoinUnmeasured(append(buf[:0], sets[i&1]...))
		i++
	}
}
