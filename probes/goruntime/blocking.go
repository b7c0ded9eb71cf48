package goruntime

import (
	"bytes"
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"time"
)

const (
	// maxGroups bounds the distinct (wait reason, stack) groups tracked;
	// goroutines of further groups are counted per class only.
	maxGroups = 4096
	// maxKeyFrames is how many frames of a stack identify its group.
	maxKeyFrames = 16
	// initialDump is the first size of the goroutine-dump buffer.
	initialDump = 64 << 10
)

// blockAnalyzer classifies goroutines by wait reason from a goroutine dump
// and follows each blocking stack across analyses to flag leaks. It is used
// by the probe's loop goroutine only.
type blockAnalyzer struct {
	topN      int
	limit     int
	window    int
	minGrowth int

	buf     []byte
	useDump bool                  // WithGoroutineDump: runtime.Stack(all) and its wait reasons
	recs    []runtime.StackRecord // goroutine profile records, reused
	maxRec  int                   // most records a profile may take
	seed    maphash.Seed
	h       maphash.Hash
	groups  map[uint64]*stackGroup
	round_  uint64

	// label, when set, restricts the analysis to the goroutines that
	// carry one pprof label: it is `"key":"value"` as the goroutine
	// profile prints it, and allowed holds, for one analysis, how many
	// such goroutines each frame key (fh) has.
	label   string
	allowed map[uint64]int
	fh      maphash.Hash
	fresh   uint64 // frame key of a goroutine that has not run yet
	prof    bytes.Buffer
	// all counts goroutines in every state (running ones too, as
	// BlockOther) except the caller's, and retries a cut-off dump with the
	// grown buffer: the leak checks of leak.go.
	all bool
}

type stackGroup struct {
	class    BlockClass
	reason   string
	stack    string
	count    int   // in the current analysis
	history  []int // last `window` counts, oldest first
	lastSeen uint64
	leaking  bool
}

func newBlockAnalyzer(topN, limit, window, minGrowth int) *blockAnalyzer {
	b := &blockAnalyzer{
		topN:      topN,
		limit:     limit,
		window:    window,
		minGrowth: minGrowth,
		maxRec:    max(limit/recordBytes, 1024),
		seed:      maphash.MakeSeed(),
		groups:    make(map[uint64]*stackGroup),
	}
	b.h.SetSeed(b.seed)
	b.fh.SetSeed(b.seed)
	b.fresh = b.fh.Sum64() // the frame key of no frame at all
	return b
}

// classify maps a runtime wait reason to its class. ok is false for
// goroutines that are not blocked (running, runnable, preempted).
func classify(reason []byte) (c BlockClass, ok bool) {
	switch string(reason) {
	case "running", "runnable", "preempted", "":
		return 0, false
	case "IO wait":
		return BlockNetwork, true
	case "chan receive", "chan send", "chan receive (nil chan)", "chan send (nil chan)",
		"chan receive (durable)", "chan send (durable)":
		return BlockChannel, true
	case "select", "select (no cases)", "select (durable)":
		return BlockSelect, true
	case "sync.Mutex.Lock", "sync.RWMutex.RLock", "sync.RWMutex.Lock",
		"sync.WaitGroup.Wait", "sync.WaitGroup.Wait (durable)", "sync.Cond.Wait", "semacquire":
		return BlockSync, true
	case "sleep":
		return BlockSleep, true
	case "syscall":
		return BlockSyscall, true
	case "GC assist wait", "GC assist marking":
		return BlockGCAssist, true
	}
	return BlockOther, true
}

// recordBytes is what WithStackDumpLimit counts per goroutine of the
// concurrent profile: the record's 32 program counters and the runtime's
// own copy while it collects.
const recordBytes = 64

// dump takes a goroutine dump into b.buf. When the dump filled the buffer
// it is cut off, and the buffer grows (up to the limit) for the next time.
func (b *blockAnalyzer) dump() (data []byte, full bool) {
	if b.buf == nil {
		b.buf = make([]byte, min(initialDump, b.limit))
	}
	n := runtime.Stack(b.buf, true)
	full = n >= len(b.buf)
	data = b.buf[:n]
	if full && len(b.buf) < b.limit {
		// Grow for the next analysis; this one works on what it got.
		defer func() { b.buf = make([]byte, min(2*len(b.buf), b.limit)) }()
	}
	return data, full
}

// round analyses one goroutine dump. It returns the analysis and the stacks
// newly flagged as leaks in it.
func (b *blockAnalyzer) round(now time.Time) (Blocking, []BlockedStack) {
	res := b.count(now)

	var newLeaks []BlockedStack
	for key, g := range b.groups {
		if g.lastSeen != b.round_ {
			g.count = 0
		}
		if len(g.history) == b.window {
			copy(g.history, g.history[1:])
			g.history[len(g.history)-1] = g.count
		} else {
			g.history = append(g.history, g.count)
		}
		if b.round_-g.lastSeen >= uint64(b.window) {
			delete(b.groups, key)
			continue
		}
		growth, leaking := b.leaking(g.history)
		// Goroutines parked on a socket read are connections: their
		// number follows the peers (clients opening more keep-alive
		// connections as load rises) and is bounded by them.
		leaking = leaking && g.class != BlockNetwork
		if leaking {
			bs := g.blocked()
			bs.Growth = growth
			res.Leaks = append(res.Leaks, bs)
			if !g.leaking {
				newLeaks = append(newLeaks, bs)
			}
		}
		g.leaking = leaking
	}
	slices.SortFunc(res.Leaks, func(x, y BlockedStack) int { return y.Growth - x.Growth })
	b.tops(&res)
	return res, newLeaks
}

// count takes a goroutine dump (and, with a label filter, a goroutine
// profile first) and counts its goroutines into the groups.
func (b *blockAnalyzer) count(now time.Time) Blocking {
	if !b.useDump && b.label == "" && !b.all {
		// The concurrent goroutine profile (profile.go): no long
		// stop-the-world. The label filter and the leak checks match
		// the dump against a profile, so they keep the dump.
		b.round_++
		res := Blocking{Time: now}
		for _, g := range b.groups {
			g.count = 0
		}
		b.profile(&res)
		return res
	}
	for attempt := 0; ; attempt++ {
		if b.label != "" {
			b.loadLabelled()
		}
		data, full := b.dump()
		if b.all && full && attempt < 8 && len(b.buf) > len(data) {
			continue // cut off: the buffer grew, take the dump again
		}
		b.round_++
		res := Blocking{Time: now, Truncated: full}
		for _, g := range b.groups {
			g.count = 0
		}
		b.parse(data, full, &res)
		if b.all && b.label != "" && attempt < 8 && b.unmatched() {
			// Labelled goroutines of the profile the dump did not show
			// alike: they changed (started, parked, exited) between the
			// two. A leak check compares counts: look again.
			time.Sleep(time.Millisecond)
			continue
		}
		return res
	}
}

// unmatched reports whether labelled goroutines of the goroutine profile
// found no goroutine in the dump.
func (b *blockAnalyzer) unmatched() bool {
	for _, n := range b.allowed {
		if n > 0 {
			return true
		}
	}
	return false
}

// tops fills res.Top from the groups' counts.
func (b *blockAnalyzer) tops(res *Blocking) {
	var tops [NumBlockClasses][]*stackGroup
	for _, g := range b.groups {
		if g.count > 0 {
			tops[g.class] = append(tops[g.class], g)
		}
	}
	for c := range tops {
		gs := tops[c]
		slices.SortFunc(gs, func(x, y *stackGroup) int {
			if x.count != y.count {
				return y.count - x.count
			}
			return strings.Compare(x.stack, y.stack)
		})
		gs = gs[:min(len(gs), b.topN)]
		if len(gs) == 0 {
			continue
		}
		res.Top[c] = make([]BlockedStack, len(gs))
		for i, g := range gs {
			res.Top[c][i] = g.blocked()
		}
	}
}

func (g *stackGroup) blocked() BlockedStack {
	return BlockedStack{Class: g.class, WaitReason: g.reason, Count: g.count, Stack: g.stack}
}

// leaking reports whether a full history grows steadily: never down, up in
// most steps, and by at least minGrowth overall.
func (b *blockAnalyzer) leaking(hist []int) (growth int, ok bool) {
	if len(hist) < b.window {
		return 0, false
	}
	ups := 0
	for i := 1; i < len(hist); i++ {
		switch {
		case hist[i] < hist[i-1]:
			return 0, false
		case hist[i] > hist[i-1]:
			ups++
		}
	}
	growth = hist[len(hist)-1] - hist[0]
	steps := len(hist) - 1
	return growth, ups*2 > steps && growth >= b.minGrowth
}

// parse walks the dump ("goroutine N [reason, ...]:" headers, function and
// file lines, blank line between goroutines) and counts every goroutine.
func (b *blockAnalyzer) parse(data []byte, full bool, res *Blocking) {
	first := true // runtime.Stack lists the calling goroutine first
	for len(data) > 0 {
		// One goroutine record ends at a blank line.
		end := bytes.Index(data, []byte("\n\n"))
		var rec []byte
		if end < 0 {
			if full {
				res.Truncated = true
				return // cut off by the buffer
			}
			rec, data = data, nil
		} else {
			rec, data = data[:end], data[end+2:]
		}
		b.record(rec, res, first)
		first = false
	}
}

func (b *blockAnalyzer) record(rec []byte, res *Blocking, caller bool) {
	nl := bytes.IndexByte(rec, '\n')
	header := rec
	if nl >= 0 {
		header, rec = rec[:nl], rec[nl+1:]
	} else {
		rec = nil
	}
	if !bytes.HasPrefix(header, []byte("goroutine ")) {
		return
	}
	if caller && b.all {
		return // the goroutine taking the dump
	}
	filtered := b.allowed != nil
	lb := bytes.IndexByte(header, '[')
	rb := bytes.LastIndexByte(header, ']')
	if lb < 0 || rb < lb {
		if !filtered {
			res.Total++
		}
		return
	}
	reason := header[lb+1 : rb]
	if i := bytes.Index(reason, []byte(", ")); i >= 0 {
		reason = reason[:i]
	}
	class, blocked := classify(reason)
	if !blocked && b.all {
		class, blocked = BlockOther, true
	}
	if !blocked && !filtered {
		res.Total++
		return
	}

	// Group key: reason and the function names of the stack; with a label
	// filter, also the frame key the goroutine profile can be matched on.
	b.h.Reset()
	b.h.Write(reason)
	b.fh.Reset()
	frames, fframes := 0, 0
	for line := range lines(rec) {
		if len(line) == 0 || line[0] == '\t' {
			continue
		}
		fn := funcName(line)
		created := bytes.HasPrefix(line, []byte("created by "))
		if frames < maxKeyFrames || created {
			b.h.WriteByte('\n')
			b.h.Write(fn)
			frames++
		}
		if filtered && !created && fframes < maxKeyFrames && !runtimeFrame(fn) {
			b.fh.WriteByte('\n')
			b.fh.Write(fn)
			fframes++
		}
	}
	if filtered {
		switch fk := b.fh.Sum64(); {
		case b.allowed[fk] > 0:
			b.allowed[fk]--
		case string(reason) == "runnable" && b.allowed[b.fresh] > 0:
			// A goroutine that has not run yet: the profile shows the
			// runtime's frames only, the dump its function (at entry).
			b.allowed[b.fresh]--
		default:
			return // not a goroutine with the label
		}
	}
	res.Total++
	if !blocked {
		return
	}
	res.Counts[class]++
	b.add(b.h.Sum64(), class, reason, func() string { return stackText(rec) })
}

// add counts one goroutine in its group (created with the stack text of
// stack() when new, unless maxGroups groups exist).
func (b *blockAnalyzer) add(key uint64, class BlockClass, reason []byte, stack func() string) {
	g, ok := b.groups[key]
	if !ok {
		if len(b.groups) >= maxGroups {
			return
		}
		g = &stackGroup{class: class, reason: string(reason), stack: stack()}
		b.groups[key] = g
	}
	g.count++
	g.lastSeen = b.round_
}

// runtimeFrame reports whether a function belongs to the runtime, whose
// frames the goroutine dump and the goroutine profile do not show alike.
func runtimeFrame(fn []byte) bool {
	return bytes.HasPrefix(fn, []byte("runtime.")) || bytes.HasPrefix(fn, []byte("internal/runtime/"))
}

// lines iterates over the lines of a record.
func lines(rec []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(rec) > 0 {
			i := bytes.IndexByte(rec, '\n')
			var l []byte
			if i < 0 {
				l, rec = rec, nil
			} else {
				l, rec = rec[:i], rec[i+1:]
			}
			if !yield(l) {
				return
			}
		}
	}
}

// funcName strips the argument list from a function line
// ("main.f(0x1, ...)" → "main.f") and the goroutine from a creation line
// ("created by main.g in goroutine 1" → "created by main.g").
func funcName(line []byte) []byte {
	if bytes.HasPrefix(line, []byte("created by ")) {
		if i := bytes.Index(line, []byte(" in goroutine ")); i >= 0 {
			return line[:i]
		}
		return line
	}
	if line[len(line)-1] == ')' {
		if i := bytes.LastIndexByte(line, '('); i > 0 {
			return line[:i]
		}
	}
	return line
}

// stackText renders the function names of a record, one per line.
func stackText(rec []byte) string {
	var sb strings.Builder
	frames := 0
	for line := range lines(rec) {
		if len(line) == 0 || line[0] == '\t' {
			continue
		}
		if frames >= maxKeyFrames && !bytes.HasPrefix(line, []byte("created by ")) {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('\n')
		}
		sb.Write(funcName(line))
		frames++
	}
	return sb.String()
}
