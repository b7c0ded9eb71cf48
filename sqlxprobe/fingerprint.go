package sqlxprobe

import "unsafe"

// Fingerprint returns the parameterised shape of query, suitable as a
// low-cardinality key and safe to export: every literal becomes "?".
//
// Replaced by "?": string constants ('…' with ” and backslash escapes,
// E'…', N'…', X'…', B'…', U&'…', MySQL _charset'…'), numbers (integers,
// decimals, exponents, hex 0x…, binary 0b…, with a unary sign where it is a
// sign), TRUE/FALSE, PostgreSQL dollar-quoted strings ($$…$$, $tag$…$tag$),
// and placeholders ($1, ?NNN, :name, $name become "?"; @name is kept, as it
// is also a MySQL user variable). A list of only literals
// and placeholders after IN collapses to "IN (?)".
//
// Removed: comments (-- …, /* … */ including nested and MySQL /*! … */, and
// MySQL # … except the PostgreSQL operators #>, #>> and #-), a trailing
// semicolon, leading and trailing whitespace. Runs of whitespace and
// comments between tokens become one space; otherwise the text, including
// keyword case, identifiers ("…" and `…`), operators and :: casts, is kept.
//
// Fingerprint never panics, allocates at most once and returns a string no
// longer than query. It is safe for concurrent use.
func Fingerprint(query string) string {
	if len(query) == 0 {
		return ""
	}
	// One buffer as long as the query; the result is a view of it, so
	// there is no second allocation or copy.
	out := make([]byte, len(query))
	n := fingerprintInto(out, query)
	if n == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(out), n)
}

// token kinds, as far as the normaliser needs to know them.
const (
	kNone  = iota
	kWord  // identifier or keyword
	kValue // literal or placeholder, written as "?"
	kOp    // operator or other punctuation
	kOpen  // (
	kClose // )
	kComma // ,
)

// charClass bits.
const (
	cIdentStart = 1 << iota
	cIdent
	cDigit
	cSpace
)

var charClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cIdentStart | cIdent
		t[c-'a'+'A'] |= cIdentStart | cIdent
	}
	t['_'] |= cIdentStart | cIdent
	for c := 0x80; c < 0x100; c++ {
		t[c] |= cIdentStart | cIdent // UTF-8 bytes of non-ASCII identifiers
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= cDigit | cIdent
	}
	t['$'] |= cIdent
	for _, c := range []byte(" \t\n\r\f\v") {
		t[c] |= cSpace
	}
	return t
}()

// fpState writes the fingerprint of q into out. Text that passes through
// unchanged (identifiers, keywords, operators, quoted identifiers, single
// spaces) is not copied token by token: q[pend:i] is a pending verbatim
// region, copied in one go when something has to be written differently
// (a literal, a run of whitespace, a comment).
//
// The output is never longer than the input — a literal becomes one "?",
// and a separating space replaces at least one byte of whitespace or
// comment — so out has len(q) bytes and nothing is appended.
type fpState struct {
	q       string
	out     []byte
	n       int  // bytes written
	pend    int  // start of the pending verbatim region
	last    int  // kind of the last token
	afterIN bool // the last token was the keyword IN
	depth   int  // parenthesis depth

	// IN-list collapsing: inStart is the output length right after the
	// list's "(", inDepth its depth; inCount counts values seen.
	inActive bool
	inStart  int
	inDepth  int
	inCount  int
}

func (s *fpState) put(c byte) {
	if s.n < len(s.out) {
		s.out[s.n] = c
		s.n++
	}
}

// flush copies the pending verbatim region up to i.
func (s *fpState) flush(i int) {
	if i > s.pend {
		s.n += copy(s.out[s.n:], s.q[s.pend:i])
	}
	s.pend = i
}

// gap drops q[i:j] (whitespace or a comment); it separates tokens by one
// space.
func (s *fpState) gap(i, j int) {
	s.flush(i)
	s.pend = j
	if s.n > 0 && s.out[s.n-1] != ' ' {
		s.put(' ')
	}
}

// value replaces the literal or placeholder q[i:j] by "?".
func (s *fpState) value(i, j int) {
	s.flush(i)
	s.put('?')
	s.pend = j
	s.last = kValue
	s.afterIN = false
	if s.inActive && s.depth == s.inDepth {
		s.inCount++
	}
}

// other records a token kept verbatim that is not a value: it ends
// IN-list collapsing for the list it appears in.
func (s *fpState) other(kind int) {
	s.last = kind
	s.afterIN = false
	if s.inActive && !(kind == kComma && s.depth == s.inDepth) {
		s.inActive = false
	}
}

// fingerprintInto writes the fingerprint of q into out (len(out) >= len(q))
// and returns its length.
func fingerprintInto(out []byte, q string) int {
	s := fpState{q: q, out: out}
	n := len(q)
	for i := 0; i < n; {
		c := q[i]
		cls := charClass[c]
		switch {
		case cls&cIdentStart != 0:
			i = s.word(q, i)
		case cls&cSpace != 0:
			if c == ' ' && i > s.pend && (i+1 >= n || charClass[q[i+1]]&cSpace == 0) {
				i++ // a single space after verbatim text stays verbatim
				continue
			}
			j := i + 1
			for j < n && charClass[q[j]]&cSpace != 0 {
				j++
			}
			s.gap(i, j)
			i = j
		case c == '-' && i+1 < n && q[i+1] == '-':
			j := skipLine(q, i+2)
			s.gap(i, j)
			i = j
		case c == '/' && i+1 < n && q[i+1] == '*':
			j := skipBlock(q, i+2)
			s.gap(i, j)
			i = j
		case c == '#' && !(i+1 < n && (q[i+1] == '>' || q[i+1] == '-')):
			j := skipLine(q, i+1)
			s.gap(i, j)
			i = j
		case c == '\'':
			j := skipString(q, i+1, true)
			s.value(i, j)
			i = j
		case c == '"' || c == '`':
			i = skipQuoted(q, i+1, c)
			s.other(kWord)
		case cls&cDigit != 0 || (c == '.' && i+1 < n && charClass[q[i+1]]&cDigit != 0):
			j := skipNumber(q, i)
			s.value(i, j)
			i = j
		case (c == '-' || c == '+') && s.unaryPosition() && i+1 < n &&
			(charClass[q[i+1]]&cDigit != 0 || (q[i+1] == '.' && i+2 < n && charClass[q[i+2]]&cDigit != 0)):
			j := skipNumber(q, i+1)
			s.value(i, j)
			i = j
		case c == '$':
			i = s.dollar(q, i)
		case c == '?':
			j := i + 1
			for j < n && charClass[q[j]]&cDigit != 0 {
				j++
			}
			s.value(i, j)
			i = j
		case c == ':':
			if i+1 < n && q[i+1] == ':' {
				s.other(kOp)
				i += 2
			} else if i+1 < n && charClass[q[i+1]]&cIdentStart != 0 {
				j := i + 2
				for j < n && charClass[q[j]]&cIdent != 0 {
					j++
				}
				s.value(i, j)
				i = j
			} else {
				s.other(kOp)
				i++
			}
		case c == '(':
			s.depth++
			if s.afterIN {
				s.flush(i + 1)
				s.last, s.afterIN = kOpen, false
				s.inActive, s.inStart, s.inDepth, s.inCount = true, s.n, s.depth, 0
			} else {
				s.other(kOpen)
			}
			i++
		case c == ')':
			if s.inActive && s.depth == s.inDepth && s.inCount > 0 && s.last == kValue {
				s.flush(i)
				s.n = s.inStart
				s.put('?')
				s.inActive = false
			}
			if s.depth > 0 {
				s.depth--
			}
			s.other(kClose)
			i++
		case c == ',':
			s.other(kComma)
			i++
		default:
			s.other(kOp)
			i++
		}
	}
	s.flush(n)
	// Drop trailing semicolons (and the space before them).
	for s.n > 0 && (s.out[s.n-1] == ';' || s.out[s.n-1] == ' ') {
		s.n--
	}
	return s.n
}

// unaryPosition reports whether a sign here belongs to a number rather than
// being a binary operator.
func (s *fpState) unaryPosition() bool {
	switch s.last {
	case kNone, kOp, kOpen, kComma:
		return true
	}
	return false
}

// word handles an identifier or keyword starting at q[i], including the
// string prefixes E”, N”, X”, B”, U&” and MySQL _charset”.
func (s *fpState) word(q string, i int) int {
	n := len(q)
	c := q[i]
	if i+1 < n && q[i+1] == '\'' {
		switch c {
		case 'E', 'e':
			j := skipString(q, i+2, true)
			s.value(i, j)
			return j
		case 'N', 'n', 'X', 'x', 'B', 'b':
			j := skipString(q, i+2, false)
			s.value(i, j)
			return j
		}
	}
	if (c == 'U' || c == 'u') && i+2 < n && q[i+1] == '&' && q[i+2] == '\'' {
		j := skipString(q, i+3, false)
		s.value(i, j)
		return j
	}
	j := i + 1
	for j < n && charClass[q[j]]&cIdent != 0 {
		j++
	}
	if c == '_' && j < n && q[j] == '\'' { // MySQL charset introducer
		k := skipString(q, j+1, true)
		s.value(i, k)
		return k
	}
	switch j - i {
	case 2:
		if (c|0x20) == 'i' && (q[i+1]|0x20) == 'n' {
			s.other(kWord)
			s.afterIN = true
			return j
		}
	case 4:
		if eqFold4(q[i:j], "true") {
			s.value(i, j)
			return j
		}
	case 5:
		if eqFold4(q[i:i+4], "fals") && (q[i+4]|0x20) == 'e' {
			s.value(i, j)
			return j
		}
	}
	s.other(kWord)
	return j
}

func eqFold4(w, lower string) bool {
	return w[0]|0x20 == lower[0] && w[1]|0x20 == lower[1] && w[2]|0x20 == lower[2] && w[3]|0x20 == lower[3]
}

// dollar handles '$' at q[i]: a positional parameter ($1), a dollar-quoted
// string ($$…$$ or $tag$…$tag$), a SQLite named parameter ($name), or a
// lone '$'.
func (s *fpState) dollar(q string, i int) int {
	n := len(q)
	j := i + 1
	if j < n && charClass[q[j]]&cDigit != 0 {
		for j < n && charClass[q[j]]&cDigit != 0 {
			j++
		}
		s.value(i, j)
		return j
	}
	if j < n && charClass[q[j]]&cIdentStart != 0 {
		j++
		for j < n && charClass[q[j]]&cIdent != 0 && q[j] != '$' {
			j++
		}
		if j >= n || q[j] != '$' {
			s.value(i, j)
			return j
		}
	}
	if j < n && q[j] == '$' {
		tag := q[i : j+1]
		end := indexFrom(q, j+1, tag)
		k := n
		if end >= 0 {
			k = end + len(tag)
		}
		s.value(i, k)
		return k
	}
	s.other(kOp)
	return i + 1
}

// indexFrom returns the index of tag in q at or after from, or -1.
func indexFrom(q string, from int, tag string) int {
	for k := from; k+len(tag) <= len(q); k++ {
		if q[k] == '$' && q[k:k+len(tag)] == tag {
			return k
		}
	}
	return -1
}

func skipLine(q string, i int) int {
	for i < len(q) && q[i] != '\n' {
		i++
	}
	return i
}

// skipBlock skips a block comment body (nesting as in PostgreSQL) and
// returns the index after its end, or len(q) if it is unterminated.
func skipBlock(q string, i int) int {
	depth := 1
	for i < len(q) {
		if q[i] == '*' && i+1 < len(q) && q[i+1] == '/' {
			depth--
			i += 2
			if depth == 0 {
				return i
			}
			continue
		}
		if q[i] == '/' && i+1 < len(q) && q[i+1] == '*' {
			depth++
			i += 2
			continue
		}
		i++
	}
	return i
}

// skipString skips a single-quoted string body starting after the opening
// quote; ” is an escaped quote, and with backslash so is \'.
func skipString(q string, i int, backslash bool) int {
	for i < len(q) {
		switch q[i] {
		case '\\':
			if backslash {
				i += 2
				continue
			}
		case '\'':
			if i+1 < len(q) && q[i+1] == '\'' {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(q)
}

// skipQuoted skips a quoted identifier body ("…" or `…`, doubled quote
// escapes) and returns the index after its closing quote.
func skipQuoted(q string, i int, quote byte) int {
	for i < len(q) {
		if q[i] == quote {
			if i+1 < len(q) && q[i+1] == quote {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(q)
}

// skipNumber skips a numeric literal starting at q[i] (a digit or '.').
// Letters glued to a number (1e5, 0x1F, 0b101, 10_000, MySQL's 1abc) are
// part of it.
func skipNumber(q string, i int) int {
	n := len(q)
	for i < n {
		c := q[i]
		switch {
		case charClass[c]&cIdent != 0 && c != '$':
			if (c == 'e' || c == 'E') && i+1 < n && (q[i+1] == '+' || q[i+1] == '-') &&
				i+2 < n && charClass[q[i+2]]&cDigit != 0 {
				i += 2
			}
			i++
		case c == '.' && !(i+1 < n && q[i+1] == '.'): // not a range ".."
			i++
		default:
			return i
		}
	}
	return i
}
