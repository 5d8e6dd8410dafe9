package pgwire

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies a token of SQL text.
type tokKind int

const (
	tokIdent  tokKind = iota // a bare word: keyword or identifier
	tokQuoted                // a "quoted identifier"
	tokString                // a '...', E'...' or $tag$...$tag$ string
	tokNumber                // a numeric literal
	tokParam                 // a $n parameter
	tokPunct                 // an operator or punctuation
)

// token is one lexical token of a statement. Start and End are byte offsets into the text the
// token came from; Value is the unquoted value of identifiers and strings (identifiers as
// written: folding is the caller's choice).
type token struct {
	Kind       tokKind
	Text       string
	Value      string
	Start, End int
}

// word returns the lower-cased name of a bare word, or "" for any other token.
func (t token) word() string {
	if t.Kind != tokIdent {
		return ""
	}
	return strings.ToLower(t.Value)
}

// name returns an identifier's name: a bare word lower-cased (as Postgres folds it), a quoted
// identifier as written, "" for any other token.
func (t token) name() string {
	switch t.Kind {
	case tokIdent:
		return strings.ToLower(t.Value)
	case tokQuoted:
		return t.Value
	}
	return ""
}

func (t token) is(p string) bool { return t.Kind == tokPunct && t.Text == p }

// lex splits SQL text into tokens, dropping whitespace and comments. It never fails: an
// unterminated string or comment runs to the end of the text (the engine reports the error when
// the statement runs). Its rules follow the engine's tokenizer (internal/engine/sqltext.go) so
// that both agree on where strings and parameters are.
func lex(src string) []token {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				i = len(src)
			} else {
				i += end + 4
			}
		case c == '\'' || ((c == 'E' || c == 'e') && i+1 < len(src) && src[i+1] == '\''):
			start := i
			if c != '\'' {
				i++
			}
			val, end := scanQuoted(src, i, '\'')
			toks = append(toks, token{Kind: tokString, Text: src[start:end], Value: val, Start: start, End: end})
			i = end
		case c == '"':
			val, end := scanQuoted(src, i, '"')
			toks = append(toks, token{Kind: tokQuoted, Text: src[i:end], Value: val, Start: i, End: end})
			i = end
		case c == '$':
			j := i + 1
			for j < len(src) && isIdentByte(src[j]) && !(j == i+1 && src[j] >= '0' && src[j] <= '9') {
				j++
			}
			if j < len(src) && src[j] == '$' { // $tag$ ... $tag$
				tag := src[i : j+1]
				end := strings.Index(src[j+1:], tag)
				stop := len(src)
				val := src[j+1:]
				if end >= 0 {
					stop = j + 1 + end + len(tag)
					val = src[j+1 : j+1+end]
				}
				toks = append(toks, token{Kind: tokString, Text: src[i:stop], Value: val, Start: i, End: stop})
				i = stop
				continue
			}
			j = i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			kind := tokPunct
			if j > i+1 {
				kind = tokParam
			}
			toks = append(toks, token{Kind: kind, Text: src[i:j], Value: src[i+1 : j], Start: i, End: j})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == '_' ||
				src[j] == 'e' || src[j] == 'E' || (src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			toks = append(toks, token{Kind: tokNumber, Text: src[i:j], Value: src[i:j], Start: i, End: j})
			i = j
		case isIdentStart(src, i):
			j := i
			for j < len(src) {
				r, n := utf8.DecodeRuneInString(src[j:])
				if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '$') {
					break
				}
				j += n
			}
			toks = append(toks, token{Kind: tokIdent, Text: src[i:j], Value: src[i:j], Start: i, End: j})
			i = j
		default:
			n := 1
			for _, op := range []string{"::", "<=", ">=", "<>", "!=", "!~~*", "!~~", "!~*", "!~", "~~*", "~~", "~*", "||", "->>", "->", "=>"} {
				if strings.HasPrefix(src[i:], op) {
					n = len(op)
					break
				}
			}
			if c >= 0x80 {
				_, n = utf8.DecodeRuneInString(src[i:])
			}
			toks = append(toks, token{Kind: tokPunct, Text: src[i : i+n], Start: i, End: i + n})
			i += n
		}
	}
	return toks
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isIdentStart(src string, i int) bool {
	r, _ := utf8.DecodeRuneInString(src[i:])
	return unicode.IsLetter(r) || r == '_'
}

// scanQuoted reads a quoted token starting at src[i] == q, where a doubled quote escapes itself.
// It returns the unescaped value and the offset after the closing quote (or the end of src).
func scanQuoted(src string, i int, q byte) (string, int) {
	var b strings.Builder
	j := i + 1
	for j < len(src) {
		if src[j] == q {
			if j+1 < len(src) && src[j+1] == q {
				b.WriteByte(q)
				j += 2
				continue
			}
			return b.String(), j + 1
		}
		b.WriteByte(src[j])
		j++
	}
	return b.String(), len(src)
}

// quoteString returns s as a SQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent returns s as a quoted SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// edit replaces src[Start:End] by Text.
type edit struct {
	Start, End int
	Text       string
}

// applyEdits applies edits sorted by Start; an edit overlapping the one before it is dropped.
func applyEdits(src string, edits []edit) string {
	if len(edits) == 0 {
		return src
	}
	var b strings.Builder
	last := 0
	for _, e := range edits {
		if e.Start < last || e.End < e.Start || e.End > len(src) {
			continue
		}
		b.WriteString(src[last:e.Start])
		b.WriteString(e.Text)
		last = e.End
	}
	b.WriteString(src[last:])
	return b.String()
}

// maxParam returns the highest $n parameter number in toks (0 when there is none).
func maxParam(toks []token) int {
	n := 0
	for _, t := range toks {
		if t.Kind == tokParam {
			if v := atoiSmall(t.Value); v > n {
				n = v
			}
		}
	}
	return n
}

// atoiSmall parses a parameter number; numbers beyond 65535 (more than the protocol allows)
// saturate.
func atoiSmall(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
		if n > 1<<16 {
			return 1 << 16
		}
	}
	return n
}
