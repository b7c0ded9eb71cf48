package stage

import (
	"sync"
	"sync/atomic"
)

// table maps keys to subjects. Lookups first try a small direct-mapped
// cache indexed by a cheap digest of the key's main string (length and a
// few bytes: no hashing, no allocation), then an immutable map read
// through an atomic pointer; inserting copies the map under a mutex, which
// happens once per subject. Past max subjects, new keys share the
// overflow subject.
type table[K comparable] struct {
	cache [tableCache]atomic.Pointer[entry[K]]
	m     atomic.Pointer[map[K]*entry[K]]
	mu    sync.Mutex
	all   []*subject // every subject, the overflow one last once used
	max   int
	other *subject
	kind  int
	st    *Stage
}

const tableCache = 64

// entry is a key and its subject; allocated once per subject, shared by
// the map and the cache.
type entry[K comparable] struct {
	k K
	s *subject
}

func newTable[K comparable](st *Stage, kind, max int) *table[K] {
	t := &table[K]{max: max, kind: kind, st: st}
	m := map[K]*entry[K]{}
	t.m.Store(&m)
	return t
}

// digest is the cache index of a key whose main string is s.
func digest(s string) int {
	n := len(s)
	if n == 0 {
		return 0
	}
	return int(uint(n)*31+uint(s[0])*7+uint(s[n-1])*3+uint(s[n/2])) % tableCache
}

// get returns the subject of k (whose main string's digest is d), creating
// it with init (which fills its names and returns the key to store, with
// strings copied) on first sight.
func (t *table[K]) get(k K, d int, init func(s *subject) K) *subject {
	c := &t.cache[d]
	if e := c.Load(); e != nil && e.k == k {
		return e.s
	}
	if e := (*t.m.Load())[k]; e != nil {
		c.Store(e)
		return e.s
	}
	return t.insert(k, init)
}

func (t *table[K]) insert(k K, init func(s *subject) K) *subject {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if e := old[k]; e != nil {
		return e.s
	}
	if len(old) >= t.max {
		if t.other == nil {
			t.other = t.st.newSubject(t.kind)
			t.other.name = "_OTHER"
			t.other.other = true
			t.all = append(t.all, t.other)
		}
		return t.other
	}
	s := t.st.newSubject(t.kind)
	key := init(s)
	m := make(map[K]*entry[K], len(old)+1)
	for kk, v := range old {
		m[kk] = v
	}
	m[key] = &entry[K]{k: key, s: s}
	t.all = append(t.all, s)
	t.m.Store(&m)
	return s
}

// subjects returns every subject (a copy of the list).
func (t *table[K]) subjects() []*subject {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*subject(nil), t.all...)
}

// find returns the subject with the given name, if any.
func (t *table[K]) find(name string) *subject {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.all {
		if s.name == name {
			return s
		}
	}
	return nil
}
