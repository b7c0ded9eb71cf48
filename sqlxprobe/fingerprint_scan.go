package sqlxprobe

import (
	"strings"
	"unsafe"
)

// The scanner is one pass over the statement, driven by a per-dialect
// table of what each byte starts (fingerprint_dialect.go). Text that
// passes through unchanged (identifiers, keywords, operators, kept quoted
// identifiers, single spaces) is not copied token by token: q[pend:i] is a
// pending verbatim region, copied in one go when something has to be
// written differently (a literal, a run of whitespace, a comment).
//
// The output is never longer than the input — a literal becomes one "?",
// a separating space replaces at least one byte of whitespace or comment,
// and collapsing IN lists and VALUES rows only removes output — so out has
// len(q) bytes and nothing is appended.

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
	cHex
)

var charClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cIdentStart | cIdent
		t[c-'a'+'A'] |= cIdentStart | cIdent
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHex
		t[c-'a'+'A'] |= cHex
	}
	t['_'] |= cIdentStart | cIdent
	for c := 0x80; c < 0x100; c++ {
		t[c] |= cIdentStart | cIdent // UTF-8 bytes of non-ASCII identifiers
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= cDigit | cIdent | cHex
	}
	t['$'] |= cIdent
	for _, c := range []byte(" \t\n\r\f\v") {
		t[c] |= cSpace
	}
	return t
}()

// Keyword classes the scanner tracks (for IN lists, VALUES rows and
// SQLite's double-quoted identifiers).
const (
	kwNone   uint8 = iota
	kwIn           // IN
	kwValues       // VALUES, VALUE
	kwRow          // ROW
	kwTrue         // TRUE, FALSE
	kwInto         // INTO
	kwName         // FROM JOIN UPDATE TABLE INDEX VIEW TRIGGER EXISTS AS SET: a name follows
)

// VALUES-list states.
const (
	vIdle     uint8 = iota
	vExpect         // after VALUES or after "," between rows: a row may start
	vRow            // inside a row
	vAfterRow       // a row closed: "," or the end of the list
)

type fpState struct {
	q     string
	out   []byte
	d     Dialect
	act   *[256]uint8
	n     int   // bytes written
	pend  int   // start of the pending verbatim region
	last  int   // kind of the last token
	kw    uint8 // keyword class of the last token (kwNone unless it was a tracked keyword)
	depth int   // parenthesis depth

	// IN-list collapsing: inStart is the output length right after the
	// list's "(", inDepth its depth; inCount counts values seen.
	afterIN  bool
	inActive bool
	inStart  int
	inDepth  int
	inCount  int

	// VALUES rows: rowStart is where the current row starts in the
	// output, [prevStart, prevEnd) the previous row kept.
	vState    uint8
	vDepth    int
	rowStart  int
	rowKW     bool // the current row started with ROW
	prevStart int
	prevEnd   int
	havePrev  bool

	// SQLite: INSERT … INTO name ( column list ).
	into    uint8 // 1 after INTO, 2 after INTO name
	colList int   // depth of the column list, 0 outside
}

func (s *fpState) put(c byte) {
	if s.n < len(s.out) {
		s.out[s.n] = c
		s.n++
	}
}

// flush copies the pending verbatim region up to i. It allocates the
// output on first use: a statement that passes through unchanged (bind
// parameters, single spaces) needs no buffer of its own.
func (s *fpState) flush(i int) {
	if s.out == nil {
		s.out = make([]byte, len(s.q))
	}
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
	if j != i+1 || s.q[i] != '?' {
		s.flush(i)
		s.put('?')
		s.pend = j
	} // else a "?" placeholder stays verbatim
	s.last = kValue
	s.kw = kwNone
	s.afterIN = false
	s.into = 0
	if s.inActive && s.depth == s.inDepth {
		s.inCount++
	}
	if s.vState == vExpect || s.vState == vAfterRow {
		s.endValues()
	}
}

// other records a token kept verbatim that is not a value: it ends IN-list
// collapsing for the list it appears in.
func (s *fpState) other(kind int) {
	s.last = kind
	s.kw = kwNone
	s.afterIN = false
	if s.inActive && !(kind == kComma && s.depth == s.inDepth) {
		s.inActive = false
	}
	if kind != kOpen {
		// Only "INTO name (" opens a column list: "INTO name ) (" or
		// "INTO name , (" do not (found by FuzzFingerprintSQLite).
		s.into = 0
	}
	if kind != kOpen && kind != kComma && kind != kClose {
		if s.vState == vExpect || s.vState == vAfterRow {
			s.endValues()
		}
	}
}

// failClosed replaces everything from q[i] on by one "?" and returns the
// end of the statement.
func (s *fpState) failClosed(i int) int {
	s.value(i, len(s.q))
	return len(s.q)
}

func (s *fpState) endValues() {
	s.vState, s.havePrev, s.rowKW = vIdle, false, false
}

// fingerprint returns the fingerprint of q: a view of the buffer it wrote
// (len(q) bytes, allocated by flush when first needed), or a prefix of q
// itself when everything passed through unchanged.
func fingerprint(d Dialect, q string) string {
	s := fpState{q: q, d: d, act: &dialectActions[d]}
	act := s.act
	n := len(q)
	for i := 0; i < n; {
		c := q[i]
		switch act[c] {
		case aWord:
			j := i + 1
			for j < n && charClass[q[j]]&cIdent != 0 {
				j++
			}
			if j-i == 1 || c == '_' || (j-i <= 7 && isKeyword(q[i:j])) {
				i = s.word(i, j) // string prefixes, introducers, keywords
				continue
			}
			// A plain identifier: s.other(kWord), inlined.
			s.last, s.kw, s.afterIN, s.inActive = kWord, kwNone, false, false
			if s.into == 1 {
				s.into = 2
			} else {
				s.into = 0
			}
			if s.vState == vExpect || s.vState == vAfterRow {
				s.endValues()
			}
			i = j
		case aSpace:
			if c == '\v' && d == DialectSQLite {
				// Not white space to SQLite's tokenizer but an illegal
				// character: it reads no further, and neither do we.
				i = s.failClosed(i)
				continue
			}
			if c == ' ' && i > s.pend && (i+1 >= n || charClass[q[i+1]]&cSpace == 0) {
				i++ // a single space after verbatim text stays verbatim
				continue
			}
			j := i + 1
			for j < n && charClass[q[j]]&cSpace != 0 && (q[j] != '\v' || d != DialectSQLite) {
				j++
			}
			s.gap(i, j)
			i = j
		case aDigit:
			i = s.number(i, i)
		case aDot:
			if i+1 < n && charClass[q[i+1]]&cDigit != 0 {
				i = s.number(i, i)
			} else {
				s.other(kOp)
				i++
			}
		case aQuote:
			i = s.quote(i, i+1)
		case aDQuote:
			i = s.doubleQuote(i)
		case aBacktick:
			i = s.backtick(i)
		case aBracket:
			i = s.bracket(i)
		case aMinus:
			if i+1 < n && q[i+1] == '-' {
				if j, ok := s.dashComment(i); ok {
					i = j
					continue
				}
			}
			i = s.sign(i)
		case aPlus:
			i = s.sign(i)
		case aSlash:
			if i+1 < n && q[i+1] == '*' {
				i = s.blockComment(i)
			} else {
				s.other(kOp)
				i++
			}
		case aHash:
			i = s.hash(i)
		case aDollar:
			i = s.dollar(i)
		case aQuestion:
			j := i + 1
			for j < n && charClass[q[j]]&cDigit != 0 {
				j++
			}
			if j > i+1 && d != DialectSQLite {
				// PostgreSQL reads "?" then a number, read as numbers
				// are ("?1$$" is "?", 1 and a dollar quote).
				i = s.number(i, i+1)
				continue
			}
			s.value(i, j)
			i = j
		case aColon:
			i = s.colon(i)
		case aAt:
			i = s.at(i)
		case aOpen:
			s.open(i)
			i++
		case aClose:
			s.close(i)
			i++
		case aComma:
			if s.vState == vAfterRow && s.depth == s.vDepth-1 {
				s.vState = vExpect
			}
			s.other(kComma)
			i++
		case aFail:
			i = s.failClosed(i)
		default:
			s.other(kOp)
			i++
		}
	}
	if s.out == nil {
		// Nothing written differently: the fingerprint is q, less its
		// trailing semicolons and spaces.
		k := len(q)
		for k > 0 && (q[k-1] == ';' || q[k-1] == ' ') {
			k--
		}
		return q[:k]
	}
	s.flush(n)
	// Drop trailing semicolons (and the space before them).
	for s.n > 0 && (s.out[s.n-1] == ';' || s.out[s.n-1] == ' ') {
		s.n--
	}
	if s.n == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(s.out), s.n)
}

func (s *fpState) open(i int) {
	s.depth++
	switch {
	case s.afterIN:
		s.flush(i + 1)
		s.last, s.kw, s.afterIN = kOpen, kwNone, false
		s.inActive, s.inStart, s.inDepth, s.inCount = true, s.n, s.depth, 0
		return
	case s.vState == vExpect:
		if !s.rowKW {
			s.flush(i)
			s.rowStart = s.n
		}
		s.rowKW = false
		s.vState, s.vDepth = vRow, s.depth
	case s.into == 2 && s.d == DialectSQLite:
		s.colList = s.depth
	}
	s.into = 0
	s.other(kOpen)
}

func (s *fpState) close(i int) {
	if s.inActive && s.depth == s.inDepth && s.inCount > 0 && s.last == kValue {
		s.flush(i)
		s.n = s.inStart
		s.put('?')
		s.inActive = false
	}
	rowEnd := s.vState == vRow && s.depth == s.vDepth
	if s.colList == s.depth {
		s.colList = 0
	}
	if s.depth > 0 {
		s.depth--
	}
	s.other(kClose)
	if rowEnd {
		s.flush(i + 1)
		if s.havePrev && string(s.out[s.rowStart:s.n]) == string(s.out[s.prevStart:s.prevEnd]) {
			s.n = s.prevEnd // the same shape as the previous row: drop ", (…)"
		} else {
			s.prevStart, s.prevEnd, s.havePrev = s.rowStart, s.n, true
		}
		s.vState = vAfterRow
	}
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

// sign handles '+' or '-' at q[i] that does not start a comment: the sign
// of a number in unary position, or an operator.
func (s *fpState) sign(i int) int {
	q := s.q
	n := len(q)
	if s.unaryPosition() && i+1 < n &&
		(charClass[q[i+1]]&cDigit != 0 || (q[i+1] == '.' && i+2 < n && charClass[q[i+2]]&cDigit != 0)) {
		return s.number(i, i+1)
	}
	s.other(kOp)
	return i + 1
}

// number handles a numeric literal starting at q[from] (a digit or '.'),
// written as "?" from q[start] (its sign, if any). Letters glued to a
// number (1e5, 0x1F, 0b101, 10_000, MySQL's 1abc) are part of it.
func (s *fpState) number(start, from int) int {
	q := s.q
	j := skipNumber(q, from)
	// "$" in the identifier glued to a number: PostgreSQL 16 may read a
	// dollar quote after "0x1F", version 15 junk. Not certain.
	if strings.IndexByte(q[from:j], '$') >= 0 {
		return s.failClosed(start)
	}
	// "0$$…": PostgreSQL reads a number and a dollar quote, SQLite one
	// number with everything glued to it.
	if j < len(q) && q[j] == '$' && s.d == DialectGeneric {
		return s.failClosed(start)
	}
	// A letter glued to a number before a quote: PostgreSQL read "12E'…'"
	// as 12 and an E'…' string before version 15 (trailing junk since),
	// MySQL reads ".5B'…'" as .5 and a B'…' literal. Not certain.
	if s.d != DialectSQLite && j < len(q) && q[j] == '\'' && charClass[q[j-1]]&cIdentStart != 0 {
		return s.failClosed(start)
	}
	s.value(start, j)
	return j
}

// skipNumber skips a numeric literal starting at q[i] (a digit or '.'),
// with the identifier characters glued to it.
func skipNumber(q string, i int) int {
	n := len(q)
	letter := false // an identifier is glued to the number
	exp := false    // the number has had its exponent: another e is junk
	for i < n {
		c := q[i]
		switch {
		case c == '$':
			// Part of an identifier glued to the number (PostgreSQL's
			// junk, MySQL's 1a$), but "1$$" is 1 and a dollar quote.
			if !letter {
				return i
			}
			i++
		case charClass[c]&cIdent != 0:
			switch {
			case (c == 'e' || c == 'E') && !letter && !exp && i+2 < n && (q[i+1] == '+' || q[i+1] == '-') &&
				charClass[q[i+2]]&cDigit != 0:
				i += 2 // exponent with a sign
				exp = true
			case (c == 'e' || c == 'E') && !letter && !exp && i+1 < n && charClass[q[i+1]]&cDigit != 0:
				exp = true // exponent
			case charClass[c]&cIdentStart != 0:
				letter = true
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

// word handles the identifier or keyword q[i:j], including string prefixes
// (E'…', N'…', X'…', B'…', U&'…', _charset'…') where the dialect has them.
func (s *fpState) word(i, j int) int {
	q := s.q
	n := len(q)
	c := q[i]
	if j == i+1 && j < n {
		if q[j] == '\'' {
			if k, ok := s.prefixedString(i, c); ok {
				return k
			}
		}
		if (c == 'U' || c == 'u') && q[j] == '&' && j+1 < n && q[j+1] == '\'' &&
			(s.d == DialectPostgres || s.d == DialectGeneric) {
			return s.quote(i, i+3)
		}
	}
	if c == '_' && j < n && (s.d == DialectMySQL || s.d == DialectGeneric) &&
		(q[j] == '\'' || (q[j] == '"' && s.d == DialectMySQL)) {
		// MySQL charset introducer: _utf8mb4'…'.
		if q[j] == '"' {
			return s.doubleQuoteFrom(i, j)
		}
		return s.quote(i, j+1)
	}
	kw := keyword(q[i:j])
	switch kw {
	case kwTrue:
		s.value(i, j)
		return j
	case kwRow:
		if s.vState == vExpect && !s.rowKW {
			s.flush(i)
			s.rowStart, s.rowKW = s.n, true
			s.last, s.kw = kWord, kwRow
			return j
		}
	}
	into := s.into
	s.other(kWord)
	s.kw = kw
	switch kw {
	case kwIn:
		s.afterIN = true
	case kwValues:
		if s.vState == vIdle {
			s.vState = vExpect
		}
	case kwInto:
		s.into = 1
	}
	if into == 1 && kw == kwNone {
		s.into = 2
	}
	return j
}

// prefixedString handles a one-letter string prefix at q[i] followed by a
// quote; ok is false when the letter is no prefix in this dialect.
func (s *fpState) prefixedString(i int, c byte) (int, bool) {
	c |= 0x20
	switch s.d {
	case DialectPostgres:
		switch c {
		case 'e':
			return s.pgEscapeString(i), true
		case 'n', 'b', 'x':
			return s.quote(i, i+2), true
		}
	case DialectMySQL:
		switch c {
		case 'n':
			return s.quote(i, i+2), true
		case 'x', 'b':
			return s.mysqlDigitString(i, c), true
		}
	case DialectSQLite:
		if c == 'x' {
			return s.quote(i, i+2), true
		}
	default:
		switch c {
		case 'e', 'n':
			return s.quote(i, i+2), true
		case 'x', 'b':
			return s.mysqlDigitString(i, c), true
		}
	}
	return 0, false
}

// The tracked keywords, found by a perfect hash of length, first and last
// letter (checked by TestKeywordHash) and one comparison.
var keywordList = []struct {
	word  string
	class uint8
}{
	{"in", kwIn}, {"as", kwName}, {"row", kwRow}, {"set", kwName}, {"true", kwTrue},
	{"false", kwTrue}, {"into", kwInto}, {"from", kwName}, {"join", kwName},
	{"view", kwName}, {"table", kwName}, {"index", kwName}, {"value", kwValues},
	{"values", kwValues}, {"update", kwName}, {"exists", kwName}, {"trigger", kwName},
}

func kwHash(w string) uint {
	return (uint(w[0]|0x20) + uint(w[len(w)-1]|0x20)*2 + uint(len(w))*5) & 63
}

var kwTable = func() (t [64]struct {
	word  string
	class uint8
}) {
	for _, k := range keywordList {
		t[kwHash(k.word)] = k
	}
	return t
}()

// isKeyword reports whether w (1 to 7 bytes) may be a tracked keyword: the
// keyword in its hash slot has its length (a cheap filter; keyword decides).
func isKeyword(w string) bool {
	return len(kwTable[kwHash(w)].word) == len(w)
}

// keyword classifies the tracked keywords, case-insensitively.
func keyword(w string) uint8 {
	if len(w) > 7 || len(w) < 2 {
		return kwNone
	}
	e := &kwTable[kwHash(w)]
	if len(e.word) == len(w) && eqFold(w, e.word) {
		return e.class
	}
	return kwNone
}

// eqFold reports whether w equals the lower-case ASCII word lower, ignoring
// ASCII case (b|0x20 is a lower-case letter only for that letter in either
// case).
func eqFold(w, lower string) bool {
	if len(w) != len(lower) {
		return false
	}
	for k := 0; k < len(w); k++ {
		if w[k]|0x20 != lower[k] {
			return false
		}
	}
	return true
}

// quote handles a single-quoted string whose body starts at q[body] (the
// literal itself starts at q[start], with its prefix), read as the dialect
// reads '…'.
func (s *fpState) quote(start, body int) int {
	var j int
	var ok bool
	if s.d == DialectPostgres || s.d == DialectSQLite {
		j, ok = scanStd(s.q, body, '\'')
	} else {
		// MySQL takes backslash escapes unless the session has
		// NO_BACKSLASH_ESCAPES: both readings must agree.
		j, ok = scanDual(s.q, body, '\'')
	}
	if !ok {
		return s.failClosed(start)
	}
	s.value(start, j)
	return j
}

// pgEscapeString handles PostgreSQL's E'…' at q[i], with its continuation
// segments: a '…' after white space that contains a newline continues the
// same literal, backslash escapes included.
func (s *fpState) pgEscapeString(i int) int {
	j, ok := scanEsc(s.q, i+2, '\'')
	for ok {
		k := pgContinuation(s.q, j)
		if k == -1 {
			break
		}
		if k < 0 {
			ok = false // \v: white space since PostgreSQL 16, not before
			break
		}
		j, ok = scanEsc(s.q, k+1, '\'')
	}
	if !ok {
		return s.failClosed(i)
	}
	s.value(i, j)
	return j
}

// pgContinuation returns the index of the quote that continues a string
// literal ending at q[j], -1 if none, or -2 if that depends on the server
// version: PostgreSQL's {quote}{whitespace_with_newline}{quote}, where the
// white space may hold -- comments but no /* */ comment.
func pgContinuation(q string, j int) int {
	newline := false
	for j < len(q) {
		switch c := q[j]; c {
		case '\v':
			return -2
		case ' ', '\t', '\f':
			j++
		case '\n', '\r':
			newline = true
			j++
		case '-':
			if j+1 >= len(q) || q[j+1] != '-' {
				return -1
			}
			for j < len(q) && q[j] != '\n' && q[j] != '\r' {
				j++
			}
		case '\'':
			if newline {
				return j
			}
			return -1
		default:
			return -1
		}
	}
	return -1
}

// mysqlDigitString handles MySQL's X'…' / B'…' at q[i]: only hexadecimal or
// binary digits up to the closing quote; anything else stops MySQL's lexer
// and is not read with certainty.
func (s *fpState) mysqlDigitString(i int, c byte) int {
	q := s.q
	j := i + 2
	for j < len(q) && q[j] != '\'' {
		if (c == 'x' && charClass[q[j]]&cHex == 0) || (c == 'b' && q[j] != '0' && q[j] != '1') {
			return s.failClosed(i)
		}
		j++
	}
	if j >= len(q) {
		return s.failClosed(i)
	}
	s.value(i, j+1)
	return j + 1
}

// doubleQuote handles "…" at q[i].
func (s *fpState) doubleQuote(i int) int {
	q := s.q
	switch s.d {
	case DialectPostgres:
		j, ok := scanStd(q, i+1, '"')
		if !ok {
			return s.failClosed(i)
		}
		s.other(kWord)
		return j
	case DialectSQLite:
		j, ok := scanStd(q, i+1, '"')
		if !ok {
			return s.failClosed(i)
		}
		// An unresolvable "name" is a string to SQLite, except where no
		// string can stand.
		qualified := (i > 0 && q[i-1] == '.' && s.last == kOp) || // not the dot of "1."
			(j < len(q) && q[j] == '.' && !(j+1 < len(q) && charClass[q[j+1]]&cDigit != 0)) // nor of ".5"
		if qualified || s.kw == kwName || s.kw == kwInto ||
			(s.colList > 0 && s.colList == s.depth) {
			into := s.into
			s.other(kWord)
			if into == 1 {
				s.into = 2
			}
			return j
		}
		s.value(i, j)
		return j
	}
	return s.doubleQuoteFrom(i, i)
}

// doubleQuoteFrom handles a "…" string at q[quote] (MySQL, generic),
// written as "?" from q[start]. MySQL reads it with backslash escapes, or
// as a name (`""` escapes only) under ANSI_QUOTES: both must agree.
func (s *fpState) doubleQuoteFrom(start, quote int) int {
	j, ok := scanDual(s.q, quote+1, '"')
	if !ok {
		return s.failClosed(start)
	}
	s.value(start, j)
	return j
}

// backtick handles `…` at q[i] (an identifier in MySQL and SQLite).
func (s *fpState) backtick(i int) int {
	q := s.q
	j, ok := scanStd(q, i+1, '`')
	if !ok {
		return s.failClosed(i)
	}
	if s.d == DialectGeneric {
		// PostgreSQL reads ` as an operator and the body as code: it must
		// not open anything there, and a number in it is a literal.
		body := q[i+1 : j-1]
		if !safeText(body, false, true) {
			return s.failClosed(i)
		}
		if hasNumberRun(body) {
			s.value(i, j)
			return j
		}
	}
	into := s.into
	s.other(kWord)
	if into == 1 {
		s.into = 2
	}
	return j
}

// hasNumberRun reports whether a run of identifier characters in body
// starts with a digit (a number when the body is read as code).
func hasNumberRun(body string) bool {
	prev := false
	for k := 0; k < len(body); k++ {
		id := charClass[body[k]]&cIdent != 0
		if id && !prev && charClass[body[k]]&cDigit != 0 {
			return true
		}
		prev = id
	}
	return false
}

// bracket handles '[' at q[i]: a […] identifier in SQLite; in the generic
// reading also an operator (PostgreSQL subscripts), so its body must not
// open anything.
func (s *fpState) bracket(i int) int {
	q := s.q
	k := strings.IndexByte(q[i+1:], ']')
	if s.d == DialectSQLite {
		if k < 0 {
			return s.failClosed(i)
		}
		s.other(kWord)
		return i + 2 + k
	}
	if k < 0 || !segmentSafe(q[i+1:i+1+k]) {
		return s.failClosed(i) // unterminated or unsafe to SQLite
	}
	s.other(kOp)
	return i + 1
}

// dashComment handles "--" at q[i]. ok is false when it is no comment here
// (MySQL wants a space or control character after it), and the dashes are
// then operators or signs.
func (s *fpState) dashComment(i int) (int, bool) {
	q := s.q
	n := len(q)
	mysqlComment := i+2 >= n || q[i+2] <= ' ' || q[i+2] == 0x7f
	if s.d == DialectMySQL && !mysqlComment {
		return 0, false
	}
	// One pass to the end of the line, noting \r (PostgreSQL ends the
	// comment there too) and NUL.
	end, cr, nul := n, -1, false
	for k := i + 2; k < n; k++ {
		if c := q[k]; c <= '\r' {
			if c == '\n' {
				end = k
				break
			}
			if c == '\r' && cr < 0 {
				cr = k
			}
			nul = nul || c == 0
		}
	}
	switch s.d {
	case DialectPostgres:
		if cr >= 0 {
			end = cr
			nul = strings.IndexByte(q[i+2:end], 0) >= 0
		}
	case DialectGeneric:
		// PostgreSQL ends at \r, MySQL may read code: the part they
		// disagree on must not open anything.
		if (!mysqlComment || cr >= 0) && !lineSafe(q[i+2:end]) {
			return s.failClosed(i), true
		}
	}
	if nul {
		return s.failClosed(i), true
	}
	s.gap(i, end)
	return end, true
}

// hash handles '#' at q[i]: a comment to the end of the line in MySQL, a
// parameter (#name) in SQLite, and in the generic reading a comment that
// must be harmless as PostgreSQL code.
func (s *fpState) hash(i int) int {
	q := s.q
	if s.d == DialectSQLite {
		return s.sqliteParam(i)
	}
	end := len(q)
	if nl := strings.IndexByte(q[i+1:], '\n'); nl >= 0 {
		end = i + 1 + nl
	}
	if s.d == DialectGeneric {
		if !lineSafe(q[i+1 : end]) {
			return s.failClosed(i)
		}
	} else if strings.IndexByte(q[i+1:end], 0) >= 0 {
		return s.failClosed(i)
	}
	s.gap(i, end)
	return end
}

// blockComment handles "/*" at q[i].
func (s *fpState) blockComment(i int) int {
	q := s.q
	n := len(q)
	if s.d == DialectPostgres {
		end := skipNestedComment(q, i+2)
		if end < 0 {
			return s.failClosed(i)
		}
		s.gap(i, end)
		return end
	}
	if s.d == DialectSQLite && i+2 >= n {
		s.other(kOp) // SQLite: "/*" at the very end is a division sign
		return i + 1
	}
	k := strings.Index(q[i+2:], "*/")
	if k < 0 {
		return s.failClosed(i)
	}
	body := q[i+2 : i+2+k]
	end := i + 4 + k
	if strings.IndexByte(body, 0) >= 0 {
		return s.failClosed(i)
	}
	if s.d == DialectGeneric && strings.Contains(q[i+2:end-1], "/*") {
		return s.failClosed(i) // PostgreSQL nests (also "/*/"), the others do not
	}
	if s.d != DialectSQLite && len(body) > 0 && (body[0] == '!' || body[0] == '+' || (body[0] == 'M' && len(body) > 1 && body[1] == '!')) {
		// MySQL executes /*! … */ (and reads /*+ … */ hints) as code: the
		// comment ends at the first */ only if nothing in it opens a
		// string, a comment or a quoted name.
		if !segmentSafe(q[i+2 : end-1]) { // with the '*' of "*/": "/*/" opens
			return s.failClosed(i)
		}
	}
	s.gap(i, end)
	return end
}

// skipNestedComment returns the index after the end of a PostgreSQL block
// comment whose body starts at q[i], or -1 if it is unterminated.
func skipNestedComment(q string, i int) int {
	depth := 1
	for i < len(q) {
		switch q[i] {
		case '*':
			if i+1 < len(q) && q[i+1] == '/' {
				depth--
				i += 2
				if depth == 0 {
					return i
				}
				continue
			}
		case '/':
			if i+1 < len(q) && q[i+1] == '*' {
				depth++
				i += 2
				continue
			}
		case 0:
			return -1
		}
		i++
	}
	return -1
}

// dollar handles '$' at q[i].
func (s *fpState) dollar(i int) int {
	q := s.q
	n := len(q)
	if s.d == DialectSQLite {
		return s.sqliteParam(i)
	}
	j := i + 1
	if j < n && charClass[q[j]]&cDigit != 0 && s.d == DialectPostgres {
		j = pgParamEnd(q, i)
		s.value(i, j) // $1
		return j
	}
	// A dollar-quote delimiter: $$ or $tag$ (tag: identifier without $).
	if j < n && charClass[q[j]]&cIdentStart != 0 {
		j++
		for j < n && charClass[q[j]]&cIdent != 0 && q[j] != '$' {
			j++
		}
	}
	if j < n && q[j] == '$' {
		tag := q[i : j+1]
		k := strings.Index(q[j+1:], tag)
		if k < 0 {
			return s.failClosed(i)
		}
		end := j + 1 + k + len(tag)
		// MySQL and SQLite read the body as code. SQLite also reads an
		// identifier or number that ends the body as running on through
		// the closing tag ("0$fn$A", "0.$$A" are one number): what
		// follows it glued is not read alike.
		if s.d == DialectGeneric && (!segmentSafe(q[j+1:j+1+k]) ||
			(k > 0 && end < n && (charClass[q[j+k]]&cIdent != 0 || q[j+k] == '.') &&
				charClass[q[end]]&cIdent != 0)) {
			return s.failClosed(i)
		}
		s.value(i, end)
		return end
	}
	if s.d == DialectPostgres {
		s.other(kOp) // "$" then an identifier
		return i + 1
	}
	// Generic: $1, $name (a parameter in PostgreSQL or SQLite).
	return s.sqliteParam(i)
}

// pgParamEnd returns the end of a PostgreSQL parameter at q[i] ("$" and
// digits): an identifier glued to the digits is its "trailing junk", one
// token with it, but "$1$$" is $1 and a dollar quote.
func pgParamEnd(q string, i int) int {
	j := i + 1
	for j < len(q) && charClass[q[j]]&cDigit != 0 {
		j++
	}
	if j < len(q) && charClass[q[j]]&cIdentStart != 0 {
		for j < len(q) && charClass[q[j]]&cIdent != 0 {
			j++
		}
	}
	return j
}

// sqliteVar scans a SQLite parameter at q[i] ($, @, #, :) as SQLite's
// tokenizer does: identifier characters and "::", then a Tcl "(…)" suffix
// that ends at ')' or white space. It returns the end, the number of
// identifier characters and the index of the '(' (or -1).
func sqliteVar(q string, i int) (k, ids, paren int) {
	n := len(q)
	k, paren = i+1, -1
	for k < n {
		c := q[k]
		switch {
		case charClass[c]&cIdent != 0:
			ids++
			k++
		case c == '(' && ids > 0:
			paren = k
			k++
			for k < n && charClass[q[k]]&cSpace == 0 && q[k] != ')' {
				k++
			}
			if k < n && q[k] == ')' {
				k++
			}
			return k, ids, paren
		case c == ':' && k+1 < n && q[k+1] == ':':
			k += 2
		default:
			return k, ids, paren
		}
	}
	return k, ids, paren
}

// sqliteSuffixUnsafe reports whether SQLite reads a parameter at q[i]
// whose "(…)" suffix the other readings take as code that opens
// something.
func sqliteSuffixUnsafe(q string, i int) bool {
	k, _, paren := sqliteVar(q, i)
	return paren >= 0 && !segmentSafe(q[paren:k])
}

// sqliteParam handles a SQLite parameter at q[i] ($name, @name, #name,
// :name, with Tcl suffixes "::name" and "(…)"). In the generic reading the
// "(…)" suffix is code to the others and must not open anything.
func (s *fpState) sqliteParam(i int) int {
	q := s.q
	n := len(q)
	k, ids, paren := sqliteVar(q, i)
	if ids == 0 {
		s.other(kOp)
		return i + 1
	}
	if s.d == DialectSQLite {
		s.value(i, k)
		return k
	}
	if q[i+1] == '$' {
		// ":$$": PostgreSQL reads ":" and what "$" starts there (a dollar
		// quote); dollar reads it as the generic dialect must.
		s.other(kOp)
		return i + 1
	}
	// The other readings take the first run of identifier characters (a
	// name, or ":1.5e" as ":" and a number) and read SQLite's "::name"
	// parts and "(…)" suffix as code, which must not open anything.
	if paren >= 0 && !segmentSafe(q[paren:k]) {
		return s.failClosed(i)
	}
	e := i + 1
	for e < n && charClass[q[e]]&cIdent != 0 {
		e++
	}
	if e == i+2 && e < n && q[e] == '\'' && (q[i+1]|0x20 == 'b' || q[i+1]|0x20 == 'x') {
		// PostgreSQL and MySQL read ":" and a B'…' or X'…' literal.
		s.other(kOp)
		return i + 1
	}
	if charClass[q[i+1]]&cDigit != 0 {
		// PostgreSQL reads ":1" as ":" and a number, "$1" as a
		// parameter; a "$" where that token ends may open a dollar
		// quote, which SQLite reads as part of its parameter.
		x := skipNumber(q, i+1)
		if q[i] == '$' {
			x = pgParamEnd(q, i)
		}
		if x < e && q[x] == '$' {
			return s.failClosed(i)
		}
		if x > e {
			e = x
		}
	}
	s.value(i, e)
	return e
}

// colon handles ':' at q[i]: "::" casts, :name placeholders, or an operator.
func (s *fpState) colon(i int) int {
	q := s.q
	n := len(q)
	if s.d == DialectSQLite {
		return s.sqliteParam(i) // "::" too: ":" alone, then ":name"
	}
	if i+1 < n && q[i+1] == ':' {
		// SQLite reads ":" then a parameter ":name(…)" here.
		if s.d == DialectGeneric && sqliteSuffixUnsafe(q, i+1) {
			return s.failClosed(i)
		}
		s.other(kOp)
		return i + 2
	}
	if s.d == DialectGeneric && i+1 < n && charClass[q[i+1]]&cIdent != 0 {
		return s.sqliteParam(i)
	}
	if i+1 < n && charClass[q[i+1]]&cIdentStart != 0 {
		j := i + 2
		for j < n && charClass[q[j]]&cIdent != 0 {
			j++
		}
		// The server reads ":" and then the word: a string prefix
		// (":B'…'", ":E'…'", ":U&'…'") is read as the dialect reads it.
		if j == n || (q[j] != '\'' && q[j] != '&') {
			s.value(i, j)
			return j
		}
	}
	s.other(kOp)
	return i + 1
}

// at handles '@' at q[i] in SQLite (@name parameters) and the generic
// reading (kept: a MySQL user variable, but SQLite's "(…)" suffix must be
// harmless).
func (s *fpState) at(i int) int {
	if s.d == DialectSQLite {
		return s.sqliteParam(i)
	}
	if sqliteSuffixUnsafe(s.q, i) {
		return s.failClosed(i)
	}
	s.other(kOp)
	return i + 1
}

// segmentSafe reports whether text that one reading skips (a comment, a
// string body, a quoted name) and another reads as code opens nothing that
// could end elsewhere: no quote of any kind, no '[', '$', '#', NUL, "--" or
// "/*".
func segmentSafe(t string) bool { return safeText(t, false, false) }

// lineSafe is segmentSafe for text that ends at a newline in every
// reading: "#" and "--" there end at the same newline and are harmless.
func lineSafe(t string) bool { return safeText(t, true, false) }

func safeText(t string, line, doubledBackticks bool) bool {
	for k := 0; k < len(t); k++ {
		switch t[k] {
		case '\'', '"', '[', '$', 0:
			return false
		case '`':
			if !doubledBackticks || k+1 >= len(t) || t[k+1] != '`' {
				return false
			}
			k++
		case '#':
			if !line {
				return false
			}
		case '-':
			if !line && k+1 < len(t) && t[k+1] == '-' {
				return false
			}
		case '/':
			if k+1 < len(t) && t[k+1] == '*' {
				return false
			}
		}
	}
	return true
}

// scanStd scans a quoted body starting at q[i] where a doubled quote is
// an escaped quote, and returns the index after the closing quote; ok is
// false if it is unterminated.
func scanStd(q string, i int, quote byte) (int, bool) {
	for {
		k := strings.IndexByte(q[i:], quote)
		if k < 0 {
			return len(q), false
		}
		i += k + 1
		if i < len(q) && q[i] == quote {
			i++
			continue
		}
		return i, true
	}
}

// scanEsc is scanStd with backslash escapes: a backslash takes the next
// byte, whatever it is.
func scanEsc(q string, i int, quote byte) (int, bool) {
	for {
		k := strings.IndexByte(q[i:], quote)
		if k < 0 {
			return len(q), false
		}
		if b := strings.IndexByte(q[i:i+k], '\\'); b >= 0 {
			i += b + 2
			if i > len(q) {
				return len(q), false
			}
			continue
		}
		i += k + 1
		if i < len(q) && q[i] == quote {
			i++
			continue
		}
		return i, true
	}
}

// scanDual scans a quoted body both ways (with and without backslash
// escapes); ok is false unless both end at the same place.
func scanDual(q string, i int, quote byte) (int, bool) {
	j, ok := scanStd(q, i, quote)
	if !ok {
		return j, false
	}
	if strings.IndexByte(q[i:j], '\\') < 0 {
		return j, true
	}
	k, ok := scanEsc(q, i, quote)
	return j, ok && k == j
}
