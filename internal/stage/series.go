package stage

import (
	"slices"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// series is a ring of per-tick values of one process-wide signal.
type series struct {
	v    []float64
	n    int // values pushed so far
	tmp  []float64
	have bool // at least one real value was pushed
}

func newSeries(capacity int) *series {
	return &series{v: make([]float64, capacity), tmp: make([]float64, 0, capacity)}
}

func (s *series) push(v float64) {
	s.v[s.n%len(s.v)] = v
	s.n++
	s.have = true
}

// overwrite replaces the k most recent values (at most those kept) by v.
func (s *series) overwrite(k int, v float64) {
	k = min(k, s.n, len(s.v))
	for i := 1; i <= k; i++ {
		s.v[(s.n-i)%len(s.v)] = v
	}
}

// last returns up to k most recent values, oldest first (a new slice).
func (s *series) last(k int) []float64 {
	k = min(k, s.n, len(s.v))
	out := make([]float64, k)
	for i := 0; i < k; i++ {
		out[i] = s.v[(s.n-k+i)%len(s.v)]
	}
	return out
}

// measure returns the mean of the last w values (the last value when
// level) beside the median of the values before them; the baseline needs
// at least minBase values.
func (s *series) measure(w, minBase int, level bool) judge.Measure {
	var m judge.Measure
	if s.n == 0 {
		return m
	}
	k := min(w, s.n)
	if level {
		m.Value = s.v[(s.n-1)%len(s.v)]
	} else {
		var sum float64
		for i := 1; i <= k; i++ {
			sum += s.v[(s.n-i)%len(s.v)]
		}
		m.Value = sum / float64(k)
	}
	before := min(s.n-k, len(s.v)-k)
	if before < minBase {
		return m
	}
	s.tmp = s.tmp[:0]
	for i := k + 1; i <= k+before; i++ {
		s.tmp = append(s.tmp, s.v[(s.n-i)%len(s.v)])
	}
	slices.Sort(s.tmp)
	if len(s.tmp)%2 == 1 {
		m.Baseline = s.tmp[len(s.tmp)/2]
	} else {
		m.Baseline = (s.tmp[len(s.tmp)/2-1] + s.tmp[len(s.tmp)/2]) / 2
	}
	m.HasBaseline = true
	return m
}
