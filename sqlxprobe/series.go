package sqlxprobe

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// seriesTable bounds the cardinality of db.client.operation.duration by
// query summary ("SELECT orders", at most 255 bytes): at most n summaries
// keep their own series, the rest are recorded under
// db.query.summary="_OTHER".
//
// Admission: the first n summaries seen are admitted. After that a folded
// summary is checked whenever its count reaches a power of two (so the
// check is rare); it replaces the least used admitted summary when it was
// used more than twice as often. A demoted series simply stops growing,
// which is correct for cumulative histograms. At most 16·n folded
// summaries are tracked; beyond that new ones are folded untracked.
type seriesTable struct {
	n       int
	mu      sync.Mutex
	entries map[string]*seriesEntry
	own     []*seriesEntry
}

type seriesEntry struct {
	key     string
	count   atomic.Uint64
	isOwn   atomic.Bool
	attrs   []attribute.KeyValue
	ownOpts []metric.RecordOption
}

func (t *seriesTable) init(n int) {
	t.n = n
	t.entries = make(map[string]*seriesEntry)
}

// entry returns the series entry of a summary, creating it if the table
// has room. attrs is retained.
func (t *seriesTable) entry(key string, attrs []attribute.KeyValue) *seriesEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok {
		return e
	}
	if len(t.entries) >= 16*t.n+t.n {
		return nil
	}
	e := &seriesEntry{key: key, attrs: attrs}
	e.ownOpts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	t.entries[key] = e
	if len(t.own) < t.n {
		e.isOwn.Store(true)
		t.own = append(t.own, e)
	}
	return e
}

// opts returns the record options of the series e belongs to now, counting
// the use and considering promotion. e may be nil (untracked).
func (t *seriesTable) opts(e *seriesEntry, in *instr) []metric.RecordOption {
	if e == nil {
		return in.otherOpts
	}
	c := e.count.Add(1)
	if e.isOwn.Load() {
		return e.ownOpts
	}
	if c&(c-1) == 0 && c >= 4 {
		t.maybePromote(e)
		if e.isOwn.Load() {
			return e.ownOpts
		}
	}
	return in.otherOpts
}

// attrsFor returns the attributes of the series e belongs to (error path,
// where error.type is added).
func (t *seriesTable) attrsFor(e *seriesEntry, in *instr) []attribute.KeyValue {
	if e != nil {
		e.count.Add(1)
		if e.isOwn.Load() {
			return e.attrs
		}
	}
	return in.otherAttrs
}

func (t *seriesTable) maybePromote(e *seriesEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.isOwn.Load() || len(t.own) == 0 {
		return
	}
	minI := 0
	for i, o := range t.own {
		if o.count.Load() < t.own[minI].count.Load() {
			minI = i
		}
	}
	if e.count.Load() > 2*t.own[minI].count.Load() {
		t.own[minI].isOwn.Store(false)
		t.own[minI] = e
		e.isOwn.Store(true)
	}
}

// ownKeys returns the admitted summaries (for tests).
func (t *seriesTable) ownKeys() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.own))
	for _, o := range t.own {
		out = append(out, o.key)
	}
	return out
}
