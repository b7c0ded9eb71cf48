package sqlxprobe

// Reference readings of SQL text, one per database, written apart from the
// fingerprint scanner and in another style (ordered rules, regular
// expressions) from the databases' documentation and lexer sources:
//
//   - PostgreSQL 15: src/backend/parser/scan.l (standard_conforming_strings
//     on), https://www.postgresql.org/docs/15/sql-syntax-lexical.html
//   - MySQL 8: sql/sql_lex.cc, https://dev.mysql.com/doc/refman/8.0/en/string-literals.html,
//     comments.html, identifiers.html (default sql_mode, and with
//     NO_BACKSLASH_ESCAPES)
//   - SQLite: src/tokenize.c, https://www.sqlite.org/lang_expr.html,
//     https://www.sqlite.org/quirks.html#dblquote (an unresolvable "name"
//     is a string)
//
// A reading splits the text into tokens and says which are literals. The
// tests use it to find the literal text of a statement and check that none
// of it reaches the fingerprint. An unterminated construct makes the rest
// of the text a literal (the conservative reading).

import (
	"regexp"
	"strings"
)

type refKind uint8

const (
	rSpace refKind = iota
	rComment
	rLiteral
	rParam // placeholder: not a literal, replaced anyway
	rName  // identifier, keyword, quoted identifier
	rOp
)

type refToken struct {
	kind       refKind
	start, end int
	// body is the part of a literal that holds its value (inside the
	// quotes, the digits of a number); [start, end) for others.
	bodyStart, bodyEnd int
}

// reading is one way a database reads SQL text.
type reading struct {
	name string
	lex  func(q string) []refToken
}

var (
	readPostgres         = reading{"postgresql", func(q string) []refToken { return lexPostgres(foldHigh(q)) }}
	readMySQL            = reading{"mysql", func(q string) []refToken { return lexMySQL(foldHigh(q), true) }}
	readMySQLNoBackslash = reading{"mysql(NO_BACKSLASH_ESCAPES)", func(q string) []refToken { return lexMySQL(foldHigh(q), false) }}
	readSQLite           = reading{"sqlite", func(q string) []refToken { return lexSQLite(foldHigh(q)) }}
	readingsFor          = map[Dialect][]reading{
		DialectPostgres: {readPostgres},
		DialectMySQL:    {readMySQL, readMySQLNoBackslash},
		DialectSQLite:   {readSQLite},
		DialectGeneric:  {readPostgres, readMySQL, readMySQLNoBackslash, readSQLite},
	}
)

// foldHigh replaces every byte from 0x80 up by 'Z': all three databases
// read those bytes as identifier characters (outside quotes), and Go's
// regular expressions match runes, not bytes. Positions do not move.
func foldHigh(q string) string {
	b := []byte(q)
	for k, c := range b {
		if c >= 0x80 {
			b[k] = 'Z'
		}
	}
	return string(b)
}

// lexer helpers shared by the readings.
type lexer struct {
	q   string
	i   int
	out []refToken
}

func (l *lexer) emit(k refKind, end int) {
	l.out = append(l.out, refToken{kind: k, start: l.i, end: end, bodyStart: l.i, bodyEnd: end})
	l.i = end
}

func (l *lexer) emitLit(end, bodyStart, bodyEnd int) {
	l.out = append(l.out, refToken{kind: rLiteral, start: l.i, end: end, bodyStart: bodyStart, bodyEnd: bodyEnd})
	l.i = end
}

// rest makes everything from l.i on one literal (an unterminated
// construct). Its body is left empty: what it would hold is not known, and
// rotating its letters could change how it starts (x' is a hex string).
func (l *lexer) rest() {
	l.emitLit(len(l.q), len(l.q), len(l.q))
}

// match returns the end of re's match at l.i (re must start with ^), or -1.
func (l *lexer) match(re *regexp.Regexp) int {
	loc := re.FindStringIndex(l.q[l.i:])
	if loc == nil {
		return -1
	}
	return l.i + loc[1]
}

// quoted finds the end of a quoted body starting at from: doubled quotes
// escape, and with backslash a backslash escapes the next byte. -1 if
// unterminated.
func quotedEnd(q string, from int, quote byte, backslash bool) int {
	for k := from; k < len(q); k++ {
		switch q[k] {
		case '\\':
			if backslash {
				k++
			}
		case quote:
			if k+1 < len(q) && q[k+1] == quote {
				k++
				continue
			}
			return k + 1
		}
	}
	return -1
}

// ---- PostgreSQL 15 ----

var (
	pgSpace   = regexp.MustCompile(`^[ \t\n\r\f]+`)
	pgIdent   = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9$]*`)
	pgNumber  = regexp.MustCompile(`^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?`)
	pgDolq    = regexp.MustCompile(`^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$`)
	pgParam   = regexp.MustCompile(`^\$[0-9]+(?:[A-Za-z_][A-Za-z_0-9$]*)?`)
	pgJunk    = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9$]*`)
	pgNewline = regexp.MustCompile(`^(?:[ \t\f]|--[^\n\r]*)*[\n\r](?:[ \t\f\n\r]|--[^\n\r]*[\n\r])*'`)
)

func lexPostgres(q string) []refToken {
	l := &lexer{q: q}
	for l.i < len(q) {
		rest := q[l.i:]
		switch {
		case pgSpace.MatchString(rest):
			l.emit(rSpace, l.match(pgSpace))
		case strings.HasPrefix(rest, "--"):
			e := strings.IndexAny(rest, "\n\r")
			if e < 0 {
				e = len(rest)
			}
			l.emit(rComment, l.i+e)
		case strings.HasPrefix(rest, "/*"):
			depth, k := 0, l.i
			for k < len(q) {
				if strings.HasPrefix(q[k:], "/*") {
					depth++
					k += 2
				} else if strings.HasPrefix(q[k:], "*/") {
					depth--
					k += 2
					if depth == 0 {
						break
					}
				} else {
					k++
				}
			}
			if depth != 0 {
				l.rest()
			} else {
				l.emit(rComment, k)
			}
		case len(rest) > 1 && (rest[0] == 'e' || rest[0] == 'E') && rest[1] == '\'':
			// E'…' with backslash escapes; continuation segments keep them.
			body := l.i + 2
			e := quotedEnd(q, body, '\'', true)
			for e >= 0 {
				loc := pgNewline.FindStringIndex(q[e:])
				if loc == nil {
					break
				}
				e = quotedEnd(q, e+loc[1], '\'', true)
			}
			if e < 0 {
				l.rest()
			} else {
				l.emitLit(e, body, e-1)
			}
		case len(rest) > 1 && strings.ContainsRune("bBxXnN", rune(rest[0])) && rest[1] == '\'':
			l.pgString(l.i + 2)
		case len(rest) > 2 && (rest[0] == 'u' || rest[0] == 'U') && rest[1] == '&' && rest[2] == '\'':
			l.pgString(l.i + 3)
		case rest[0] == '\'':
			l.pgString(l.i + 1)
		case rest[0] == '"':
			if e := quotedEnd(q, l.i+1, '"', false); e < 0 {
				l.rest()
			} else {
				l.emit(rName, e)
			}
		case pgParam.MatchString(rest):
			l.emit(rParam, l.match(pgParam))
		case pgDolq.MatchString(rest):
			tagEnd := l.match(pgDolq)
			tag := q[l.i:tagEnd]
			k := strings.Index(q[tagEnd:], tag)
			if k < 0 {
				l.rest()
			} else {
				l.emitLit(tagEnd+k+len(tag), tagEnd, tagEnd+k)
			}
		case pgNumber.MatchString(rest):
			e := l.match(pgNumber)
			if loc := pgJunk.FindStringIndex(q[e:]); loc != nil {
				e += loc[1] // "trailing junk after numeric literal"
			}
			l.emitLit(e, l.i, e)
		case pgIdent.MatchString(rest):
			l.emit(rName, l.match(pgIdent))
		default:
			l.emit(rOp, l.i+1)
		}
	}
	return l.out
}

// pgString reads a standard-conforming string whose body starts at body.
func (l *lexer) pgString(body int) {
	e := quotedEnd(l.q, body, '\'', false)
	if e < 0 {
		l.rest()
		return
	}
	l.emitLit(e, body, e-1)
}

// ---- MySQL 8 ----

var (
	myNumber = regexp.MustCompile(`^(?:0[xX][0-9a-fA-F]+|0[bB][01]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)`)
	myIdent  = regexp.MustCompile(`^[A-Za-z0-9_$]+`)
	myHex    = regexp.MustCompile(`^[xX]'[0-9a-fA-F]*'`)
	myBin    = regexp.MustCompile(`^[bB]'[01]*'`)
	myVer    = regexp.MustCompile(`^/\*(?:M!|!)[0-9]*`)
)

func lexMySQL(q string, backslash bool) []refToken {
	l := &lexer{q: q}
	exec := false // inside /*! … */, read as code
	for l.i < len(q) {
		rest := q[l.i:]
		c := rest[0]
		switch {
		case c == 0:
			l.rest()
		case strings.ContainsRune(" \t\n\v\f\r", rune(c)):
			l.emit(rSpace, l.i+1)
		case c == '#' || (strings.HasPrefix(rest, "--") && (len(rest) == 2 || rest[2] <= ' ' || rest[2] == 0x7f)):
			e := strings.IndexAny(rest, "\n\x00")
			if e < 0 {
				e = len(rest)
			}
			l.emit(rComment, l.i+e)
		case exec && strings.HasPrefix(rest, "*/"):
			exec = false
			l.emit(rComment, l.i+2)
		case strings.HasPrefix(rest, "/*!") || strings.HasPrefix(rest, "/*M!"):
			exec = true
			l.emit(rComment, l.match(myVer))
		case strings.HasPrefix(rest, "/*"):
			e := strings.Index(rest[2:], "*/")
			if e < 0 {
				l.rest()
			} else {
				l.emit(rComment, l.i+2+e+2)
			}
		case myHex.MatchString(rest) || myBin.MatchString(rest):
			e := l.match(myHex)
			if e < 0 {
				e = l.match(myBin)
			}
			l.emitLit(e, l.i+2, e-1)
		case len(rest) > 1 && (c == 'x' || c == 'X' || c == 'b' || c == 'B') && rest[1] == '\'':
			l.rest() // not hexadecimal/binary digits: MySQL stops reading
		case len(rest) > 1 && (c == 'n' || c == 'N') && rest[1] == '\'':
			l.myString(l.i+2, '\'', backslash)
		case c == '\'' || c == '"':
			l.myString(l.i+1, c, backslash)
		case c == '`':
			if e := quotedEnd(q, l.i+1, '`', false); e < 0 {
				l.rest()
			} else {
				l.emit(rName, e)
			}
		case c == '?':
			l.emit(rParam, l.i+1)
		case c >= '0' && c <= '9' || (c == '.' && len(rest) > 1 && rest[1] >= '0' && rest[1] <= '9'):
			e := l.match(myNumber)
			if c != '.' && e < len(q) && myIdent.MatchString(q[e:]) && !strings.Contains(q[l.i:e], ".") {
				// Digits followed by identifier characters: an identifier.
				l.emit(rName, l.match(myIdent))
			} else {
				l.emitLit(e, l.i, e)
			}
		case myIdent.MatchString(rest):
			l.emit(rName, l.match(myIdent))
		default:
			l.emit(rOp, l.i+1)
		}
	}
	return l.out
}

func (l *lexer) myString(body int, quote byte, backslash bool) {
	e := quotedEnd(l.q, body, quote, backslash)
	if e < 0 {
		l.rest()
		return
	}
	l.emitLit(e, body, e-1)
}

// ---- SQLite ----

var (
	sqSpace  = regexp.MustCompile(`^[ \t\n\f\r]+`)
	sqIdent  = regexp.MustCompile(`^[A-Za-z0-9_$]+`)
	sqNumber = regexp.MustCompile(`^(?:0[xX][0-9a-fA-F][0-9a-fA-F_]*|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9][0-9_]*)?)[A-Za-z0-9_$]*`)
	sqVar    = regexp.MustCompile(`^[$@#:](?:[A-Za-z0-9_$]|::)*`)
	sqNamed  = regexp.MustCompile(`[A-Za-z0-9_$]`)
)

func lexSQLite(q string) []refToken {
	l := &lexer{q: q}
	for l.i < len(q) {
		rest := q[l.i:]
		c := rest[0]
		switch {
		case c == 0:
			l.rest()
		case sqSpace.MatchString(rest):
			l.emit(rSpace, l.match(sqSpace))
		case strings.HasPrefix(rest, "--"):
			e := strings.IndexAny(rest, "\n\x00")
			if e < 0 {
				e = len(rest)
			}
			l.emit(rComment, l.i+e)
		case strings.HasPrefix(rest, "/*") && len(rest) > 2:
			e := strings.Index(rest[2:], "*/")
			if e < 0 {
				l.emit(rComment, len(q))
			} else {
				l.emit(rComment, l.i+2+e+2)
			}
		case len(rest) > 1 && (c == 'x' || c == 'X') && rest[1] == '\'':
			if e := strings.IndexByte(rest[2:], '\''); e < 0 {
				l.rest()
			} else {
				l.emitLit(l.i+2+e+1, l.i+2, l.i+2+e)
			}
		case c == '\'':
			if e := quotedEnd(q, l.i+1, '\'', false); e < 0 {
				l.rest()
			} else {
				l.emitLit(e, l.i+1, e-1)
			}
		case c == '"' || c == '`':
			if e := quotedEnd(q, l.i+1, c, false); e < 0 {
				l.rest()
			} else if c == '"' {
				// Kind decided below, from the context.
				l.emitLit(e, l.i+1, e-1)
				l.out[len(l.out)-1].kind = rName | 0x80
			} else {
				l.emit(rName, e)
			}
		case c == '[':
			if e := strings.IndexByte(rest, ']'); e < 0 {
				l.rest()
			} else {
				l.emit(rName, l.i+e+1)
			}
		case c == '?':
			e := l.i + 1
			for e < len(q) && q[e] >= '0' && q[e] <= '9' {
				e++
			}
			l.emit(rParam, e)
		case strings.ContainsRune("$@#:", rune(c)):
			e := l.match(sqVar)
			if !sqNamed.MatchString(q[l.i+1 : e]) {
				l.emit(rOp, l.i+1)
				break
			}
			if e < len(q) && q[e] == '(' { // Tcl array suffix
				k := e + 1
				for k < len(q) && !strings.ContainsRune(" \t\n\v\f\r)", rune(q[k])) {
					k++
				}
				if k < len(q) && q[k] == ')' {
					k++
				}
				e = k
			}
			l.emit(rParam, e)
		case c >= '0' && c <= '9' || (c == '.' && len(rest) > 1 && rest[1] >= '0' && rest[1] <= '9'):
			e := l.match(sqNumber)
			l.emitLit(e, l.i, e)
		case sqIdent.MatchString(rest):
			l.emit(rName, l.match(sqIdent))
		default:
			l.emit(rOp, l.i+1)
		}
	}
	sqliteDoubleQuoted(q, l.out)
	return l.out
}

// sqliteDoubleQuoted decides each "…" token: a name where SQLite cannot
// take a string (qualified, after FROM/JOIN/INTO/UPDATE/TABLE/INDEX/VIEW/
// TRIGGER/EXISTS/AS/SET, in INSERT's column list), else possibly a string.
func sqliteDoubleQuoted(q string, toks []refToken) {
	sig := func(k, dir int) int { // next significant token index
		for k += dir; k >= 0 && k < len(toks); k += dir {
			if toks[k].kind != rSpace && toks[k].kind != rComment {
				return k
			}
		}
		return -1
	}
	text := func(k int) string {
		if k < 0 {
			return ""
		}
		return strings.ToUpper(q[toks[k].start:toks[k].end])
	}
	colList := map[int]bool{} // token indexes inside an INSERT column list
	for k := range toks {
		if text(k) != "INTO" {
			continue
		}
		name := sig(k, 1)
		open := sig(name, 1)
		if name < 0 || open < 0 || text(open) != "(" || (toks[name].kind&0x7f) != rName {
			continue
		}
		depth := 0
		for m := open; m < len(toks); m++ {
			switch text(m) {
			case "(":
				depth++
			case ")":
				depth--
			}
			if depth == 0 {
				break
			}
			if depth == 1 {
				colList[m] = true
			}
		}
	}
	for k := range toks {
		if toks[k].kind != rName|0x80 {
			continue
		}
		prev, next := sig(k, -1), k+1
		name := (k > 0 && toks[k-1].end == toks[k].start && text(k-1) == ".") ||
			(next < len(toks) && text(next) == ".") || colList[k]
		switch text(prev) {
		case "FROM", "JOIN", "INTO", "UPDATE", "TABLE", "INDEX", "VIEW", "TRIGGER", "EXISTS", "AS", "SET":
			name = true
		}
		if name {
			toks[k].kind = rName
		} else {
			toks[k].kind = rLiteral
		}
	}
}
