package sqlxprobe

// The implementation before the verbatim-copy rewrite, kept as a
// reference: FuzzFingerprintDifferential checks that both agree.

// refState writes into out by index: the output is never longer than the
// input (every token is written at most as long as it was read, and a
// separating space replaces at least one byte of whitespace or comment),
// so out has len(query) bytes and nothing is appended or reallocated.
type refState struct {
	out     []byte
	n       int  // bytes written
	last    int  // kind of the last token written
	space   bool // whitespace or a comment since the last token
	afterIN bool // the last token was the keyword IN
	depth   int  // parenthesis depth

	// IN-list collapsing: inStart is the output length right after the
	// list's "(", inDepth its depth; inCount counts values seen.
	inActive bool
	inStart  int
	inDepth  int
	inCount  int
}

func (s *refState) sep() {
	if s.space && s.n > 0 {
		s.put(' ')
	}
	s.space = false
}

func (s *refState) put(c byte) {
	if s.n < len(s.out) {
		s.out[s.n] = c
		s.n++
	}
}

func (s *refState) puts(t string) {
	s.n += copy(s.out[s.n:], t)
}

func (s *refState) value() {
	s.sep()
	s.put('?')
	s.last = kValue
	s.afterIN = false
	if s.inActive && s.depth == s.inDepth {
		s.inCount++
	}
}

// other records a token that is not a value: it ends IN-list collapsing
// for the list it appears in.
func (s *refState) other(kind int) {
	s.last = kind
	if s.inActive && !(kind == kComma && s.depth == s.inDepth) {
		s.inActive = false
	}
}

// refFingerprintInto writes the fingerprint of q into out (len(out) >= len(q))
// and returns its length.
func refFingerprintInto(out []byte, q string) int {
	s := refState{out: out}
	n := len(q)
	for i := 0; i < n; {
		c := q[i]
		cls := charClass[c]
		switch {
		case cls&cSpace != 0:
			s.space = true
			i++
		case c == '-' && i+1 < n && q[i+1] == '-':
			i = skipLine(q, i+2)
			s.space = true
		case c == '/' && i+1 < n && q[i+1] == '*':
			i = skipBlock(q, i+2)
			s.space = true
		case c == '#' && !(i+1 < n && (q[i+1] == '>' || q[i+1] == '-')):
			i = skipLine(q, i+1)
			s.space = true
		case c == '\'':
			i = skipString(q, i+1, true)
			s.value()
		case c == '"' || c == '`':
			j := skipQuoted(q, i+1, c)
			s.sep()
			s.puts(q[i:j])
			s.other(kWord)
			s.afterIN = false
			i = j
		case cls&cDigit != 0 || (c == '.' && i+1 < n && charClass[q[i+1]]&cDigit != 0):
			i = skipNumber(q, i)
			s.value()
		case (c == '-' || c == '+') && s.unaryPosition() && i+1 < n &&
			(charClass[q[i+1]]&cDigit != 0 || (q[i+1] == '.' && i+2 < n && charClass[q[i+2]]&cDigit != 0)):
			i = skipNumber(q, i+1)
			s.value()
		case cls&cIdentStart != 0:
			i = s.word(q, i)
		case c == '$':
			i = s.dollar(q, i)
		case c == '?':
			i++
			for i < n && charClass[q[i]]&cDigit != 0 {
				i++
			}
			s.value()
		case c == ':':
			if i+1 < n && q[i+1] == ':' {
				s.op(q[i : i+2])
				i += 2
			} else if i+1 < n && charClass[q[i+1]]&cIdentStart != 0 {
				i += 2
				for i < n && charClass[q[i]]&cIdent != 0 {
					i++
				}
				s.value()
			} else {
				s.op(q[i : i+1])
				i++
			}
		case c == '(':
			s.sep()
			s.put('(')
			s.depth++
			if s.afterIN {
				s.afterIN = false
				s.last = kOpen
				s.inActive, s.inStart, s.inDepth, s.inCount = true, s.n, s.depth, 0
			} else {
				s.other(kOpen)
			}
			i++
		case c == ')':
			if s.inActive && s.depth == s.inDepth && s.inCount > 0 && s.last == kValue {
				s.n = s.inStart
				s.put('?')
				s.space = false
				s.inActive = false
			}
			s.sep()
			s.put(')')
			if s.depth > 0 {
				s.depth--
			}
			s.other(kClose)
			s.afterIN = false
			i++
		case c == ',':
			s.sep()
			s.put(',')
			s.other(kComma)
			s.afterIN = false
			i++
		default:
			s.op(q[i : i+1])
			i++
		}
	}
	// Drop trailing semicolons (and the space before them).
	for s.n > 0 && (s.out[s.n-1] == ';' || s.out[s.n-1] == ' ') {
		s.n--
	}
	return s.n
}

func (s *refState) op(tok string) {
	s.sep()
	s.puts(tok)
	s.other(kOp)
	s.afterIN = false
}

// unaryPosition reports whether a sign here belongs to a number rather than
// being a binary operator.
func (s *refState) unaryPosition() bool {
	switch s.last {
	case kNone, kOp, kOpen, kComma:
		return true
	}
	return false
}

// word handles an identifier or keyword starting at q[i], including the
// string prefixes E”, N”, X”, B”, U&” and MySQL _charset”.
func (s *refState) word(q string, i int) int {
	n := len(q)
	c := q[i]
	if i+1 < n && q[i+1] == '\'' {
		switch c {
		case 'E', 'e':
			s.value()
			return skipString(q, i+2, true)
		case 'N', 'n', 'X', 'x', 'B', 'b':
			s.value()
			return skipString(q, i+2, false)
		}
	}
	if (c == 'U' || c == 'u') && i+2 < n && q[i+1] == '&' && q[i+2] == '\'' {
		s.value()
		return skipString(q, i+3, false)
	}
	j := i + 1
	for j < n && charClass[q[j]]&cIdent != 0 {
		j++
	}
	w := q[i:j]
	if c == '_' && j < n && q[j] == '\'' { // MySQL charset introducer
		s.value()
		return skipString(q, j+1, true)
	}
	switch len(w) {
	case 4:
		if eqFold4(w, "true") {
			s.value()
			return j
		}
	case 5:
		if eqFold4(w[:4], "fals") && (w[4]|0x20) == 'e' {
			s.value()
			return j
		}
	}
	s.sep()
	s.puts(w)
	s.other(kWord)
	s.afterIN = len(w) == 2 && (w[0]|0x20) == 'i' && (w[1]|0x20) == 'n'
	return j
}

// dollar handles '$' at q[i]: a positional parameter ($1), a dollar-quoted
// string ($$…$$ or $tag$…$tag$), or a lone '$'.
func (s *refState) dollar(q string, i int) int {
	n := len(q)
	j := i + 1
	if j < n && charClass[q[j]]&cDigit != 0 {
		for j < n && charClass[q[j]]&cDigit != 0 {
			j++
		}
		s.value()
		return j
	}
	// Tag: $$ or $ident$ (identifier without '$'); $ident alone is a
	// SQLite named parameter.
	if j < n && charClass[q[j]]&cIdentStart != 0 {
		j++
		for j < n && charClass[q[j]]&cIdent != 0 && q[j] != '$' {
			j++
		}
		if j >= n || q[j] != '$' {
			s.value()
			return j
		}
	}
	if j < n && q[j] == '$' {
		tag := q[i : j+1]
		body := j + 1
		end := indexFrom(q, body, tag)
		s.value()
		if end < 0 {
			return n
		}
		return end + len(tag)
	}
	s.op(q[i : i+1])
	return i + 1
}
