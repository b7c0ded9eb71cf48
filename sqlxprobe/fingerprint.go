package sqlxprobe

// Dialect selects how [FingerprintDialect] reads a statement: strings,
// quoted identifiers, comments and operators differ between databases, and
// a literal read with the wrong rules can leak into db.query.text.
//
// The zero value is [DialectGeneric]. Values other than the constants
// below are read as DialectGeneric.
type Dialect uint8

const (
	// DialectGeneric reads a statement so that no literal survives under
	// any of the PostgreSQL, MySQL and SQLite readings: where they
	// disagree it redacts, and where they disagree about where a literal
	// ends it replaces the rest of the statement by "?". Double-quoted
	// text is redacted (a string in MySQL); backslashes in '…' must end
	// the string at the same place with and without escapes; "#" starts
	// a comment (MySQL) that must also be harmless as an operator
	// (PostgreSQL). It is the default for unknown drivers and what
	// [Fingerprint] uses.
	DialectGeneric Dialect = iota
	// DialectPostgres reads as PostgreSQL with standard_conforming_strings
	// on (the default since 9.1): '…' without backslash escapes, E'…'
	// with them (also in its continuation lines), $tag$…$tag$, U&'…',
	// B'…', X'…', N'…', nested /* */ comments, "…" identifiers, and "#",
	// "?" and "@" as operator characters.
	DialectPostgres
	// DialectMySQL reads as MySQL (and MariaDB): '…' and "…" are strings
	// with backslash escapes, N'…' and _charset'…' introducers, X'…',
	// B'…', 0x… and 0b… literals, `…` identifiers, "#" and "-- "
	// comments ("--" followed by a space or a control character), and
	// /*! … */ and /*+ … */ comments whose content MySQL executes. The
	// session's sql_mode is unknown here, so a string must end at the
	// same place with and without backslash escapes (NO_BACKSLASH_ESCAPES)
	// or the rest of the statement is redacted: 'O\'Brien' costs the
	// detail after it, 'C:\' does not leak what follows.
	DialectMySQL
	// DialectSQLite reads as SQLite: '…' without backslash escapes, X'…'
	// blobs, `…` and […] identifiers, ?NNN, :name, @name, $name and #name
	// parameters (with their Tcl suffixes). "…" is an identifier, but
	// SQLite reads an unresolvable one as a string, so it is kept only
	// where SQLite takes no string: qualified (next to "."), after FROM,
	// JOIN, INTO, UPDATE, TABLE, INDEX, VIEW, TRIGGER, EXISTS, AS and
	// SET, and in an INSERT column list; elsewhere it is redacted.
	DialectSQLite

	numDialects
)

// String returns "generic", "postgresql", "mysql" or "sqlite".
func (d Dialect) String() string {
	switch d {
	case DialectPostgres:
		return "postgresql"
	case DialectMySQL:
		return "mysql"
	case DialectSQLite:
		return "sqlite"
	}
	return "generic"
}

// Fingerprint returns the parameterised shape of query, read with
// [DialectGeneric]: FingerprintDialect(DialectGeneric, query).
func Fingerprint(query string) string {
	return FingerprintDialect(DialectGeneric, query)
}

// FingerprintDialect returns the parameterised shape of query as database
// d reads it, suitable as a low-cardinality key and safe to export: no
// literal survives.
//
// Replaced by "?": string constants in every form the dialect knows,
// numbers (with a unary sign where it is a sign), TRUE and FALSE,
// PostgreSQL dollar-quoted strings, and placeholders ($1, ?, ?NNN, :name,
// and SQLite's $name, @name, #name). A parenthesised list of only values
// after IN becomes "IN (?)", and rows of a VALUES list that repeat the
// previous row's shape are dropped, so batches of any size share one
// fingerprint.
//
// Removed: comments, a trailing semicolon, leading and trailing
// whitespace; runs of whitespace and comments between tokens become one
// space. Everything else — keywords as written, identifiers, operators,
// :: casts — is kept.
//
// Fail closed: where the statement cannot be read with certainty — an
// unterminated string, comment or quoted identifier, a NUL byte, or (in
// [DialectGeneric], and for MySQL's executable comments) a place where the
// readings disagree about where a literal ends — the rest of the statement
// becomes one "?". A "?" too many only costs detail; a literal byte in a
// trace is a leak.
//
// The statement is taken to be UTF-8 (or another ASCII-compatible encoding
// whose multi-byte characters never contain bytes below 0x80).
//
// FingerprintDialect never panics, allocates at most once (not at all when
// the statement passes through unchanged, e.g. with bind parameters only,
// and the result is then a substring of query) and returns a string no
// longer than query. It is safe for concurrent use.
func FingerprintDialect(d Dialect, query string) string {
	if len(query) == 0 {
		return ""
	}
	if d >= numDialects {
		d = DialectGeneric
	}
	return fingerprint(d, query)
}
