package stage

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// The latency sketch: fixed log buckets, two per octave (relative error of
// a quantile at most ±19 %), from 1.024 µs to about 4.5 minutes. Bucket 0
// holds everything below 1.024 µs, the last everything above. Sketches
// merge by adding counts.
const nBuckets = 56

// bucketOf returns the bucket of a duration in nanoseconds.
func bucketOf(ns int64) int {
	if ns < 1024 {
		return 0
	}
	x := uint64(ns)
	n := bits.Len64(x) // x in [2^(n-1), 2^n), n ≥ 11
	var m uint64       // x normalised to 16 bits: [32768, 65536)
	if n > 16 {
		m = x >> (n - 16)
	} else {
		m = x << (16 - n)
	}
	i := 2*(n-10) - 1
	if m >= 46341 { // 32768·√2
		i++
	}
	return min(i, nBuckets-1)
}

// bucketLow returns the lower bound of bucket i in seconds.
func bucketLow(i int) float64 {
	if i <= 0 {
		return 0
	}
	l := (i + 1) / 2
	v := math.Ldexp(1024e-9, l-1)
	if i%2 == 0 {
		v *= math.Sqrt2
	}
	return v
}

// bucketValue is the representative value of bucket i (its geometric
// middle), seconds.
func bucketValue(i int) float64 {
	if i <= 0 {
		return 512e-9
	}
	return bucketLow(i) * 1.189207115 // 2^(1/4)
}

// atomicSketch is written concurrently by span ends.
type atomicSketch [nBuckets]atomic.Uint32

func (s *atomicSketch) add(ns int64) { s[bucketOf(ns)].Add(1) }

// sketch is a plain sketch for merging and quantiles (one goroutine).
type sketch [nBuckets]uint32

func (s *sketch) addAtomic(a *atomicSketch) {
	for i := range a {
		s[i] += a[i].Load()
	}
}

func (s *sketch) merge(o *sketch) {
	for i := range o {
		s[i] += o[i]
	}
}

func (s *sketch) count() uint64 {
	var n uint64
	for _, c := range s {
		n += uint64(c)
	}
	return n
}

// quantile returns the q-quantile in seconds (0 when empty).
func (s *sketch) quantile(q float64) float64 {
	n := s.count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range s {
		seen += uint64(c)
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(nBuckets - 1)
}
