package kernel

import (
	"testing"

	"github.com/verdict-obs/verdict/bpf"
)

// Each drop counter has its own sentence in Status, naming the limit.
func TestLostReason(t *testing.T) {
	for _, c := range []struct {
		s    bpf.TimingStats
		want string
	}{
		{bpf.TimingStats{}, ""},
		{bpf.TimingStats{SlotDrops: 3}, "3 spans without kernel time: more goroutines had spans open at once than there are slots (WithSlots)"},
		{bpf.TimingStats{SpanDrops: 2, ThreadDrops: 5}, "2 spans without kernel time: more spans were open at once than the span table holds; 5 kernel events lost: the per-thread table was full"},
	} {
		if got := lostReason(c.s); got != c.want {
			t.Errorf("lostReason(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}
