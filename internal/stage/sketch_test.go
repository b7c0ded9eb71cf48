package stage

import (
	"math"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	prev := -1
	for ns := int64(1); ns < int64(300*time.Second); ns = ns*21/20 + 1 {
		b := bucketOf(ns)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d < %d: not monotonic", ns, b, prev)
		}
		prev = b
		if b == 0 || b == nBuckets-1 {
			continue
		}
		lo, hi := bucketLow(b), bucketLow(b+1)
		sec := float64(ns) / 1e9
		if sec < lo*(1-1e-9) || sec >= hi*(1+1e-9) {
			t.Fatalf("%v in bucket %d = [%v, %v)", time.Duration(ns), b, lo, hi)
		}
		if v := bucketValue(b); math.Abs(v-sec)/sec > 0.42 {
			t.Fatalf("%v: representative %v off by more than a bucket", time.Duration(ns), v)
		}
	}
}

func TestSketchQuantiles(t *testing.T) {
	var a atomicSketch
	for i := 1; i <= 1000; i++ {
		a.add(int64(i) * int64(time.Millisecond))
	}
	var s sketch
	s.addAtomic(&a)
	for _, c := range []struct{ q, want float64 }{{0.5, 0.5}, {0.99, 0.99}, {0.1, 0.1}} {
		got := s.quantile(c.q)
		if math.Abs(got-c.want)/c.want > 0.2 {
			t.Errorf("q%v = %v, want %v ±20 %%", c.q, got, c.want)
		}
	}
	var empty sketch
	if empty.quantile(0.5) != 0 {
		t.Error("empty sketch quantile != 0")
	}
}
