package sqlxprobe

// What a byte starts in code (outside strings and comments), per dialect.
const (
	aOp       uint8 = iota // kept as an operator or punctuation
	aWord                  // identifier or keyword (letters, '_', UTF-8)
	aSpace                 // white space
	aDigit                 // number
	aDot                   // '.', maybe the start of a number
	aQuote                 // '
	aDQuote                // "
	aBacktick              // `
	aBracket               // [
	aMinus                 // '-': "--" comment, sign or operator
	aPlus                  // '+': sign or operator
	aSlash                 // '/': "/*" comment or operator
	aHash                  // '#'
	aDollar                // '$'
	aQuestion              // '?' placeholder
	aColon                 // ':'
	aAt                    // '@'
	aOpen                  // (
	aClose                 // )
	aComma                 // ,
	aFail                  // NUL: nothing after it is read with certainty
)

var dialectActions = func() (t [numDialects][256]uint8) {
	for d := range t {
		a := &t[d]
		for c := 0; c < 256; c++ {
			switch cls := charClass[c]; {
			case cls&cIdentStart != 0:
				a[c] = aWord
			case cls&cDigit != 0:
				a[c] = aDigit
			case cls&cSpace != 0:
				a[c] = aSpace
			}
		}
		a['.'] = aDot
		a['\''] = aQuote
		a['"'] = aDQuote
		a['-'] = aMinus
		a['+'] = aPlus
		a['/'] = aSlash
		a['?'] = aQuestion
		a[':'] = aColon
		a['('] = aOpen
		a[')'] = aClose
		a[','] = aComma
		a[0] = aFail
		a['$'] = aDollar
		switch Dialect(d) {
		case DialectPostgres:
			// '#', '@' and '`' are operator characters; '[' subscripts.
		case DialectMySQL:
			a['#'] = aHash
			a['`'] = aBacktick
			a['$'] = aWord // $ may start an identifier
		case DialectSQLite:
			a['#'] = aHash
			a['`'] = aBacktick
			a['['] = aBracket
			a['@'] = aAt
		default:
			a['#'] = aHash
			a['`'] = aBacktick
			a['['] = aBracket
			a['@'] = aAt
		}
	}
	return t
}()
