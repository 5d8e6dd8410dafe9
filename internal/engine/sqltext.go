package engine

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file splits SQL text into tokens. It is not a SQL parser: DuckDB parses every query and
// expression. Strata only needs token boundaries to split a script into statements, to recognise
// the heads of the statements DuckDB does not know (OPTIMIZE, VACUUM, RESTORE, DESCRIBE HISTORY,
// INSERT OVERWRITE ... REPLACE WHERE) or whose target is a Delta table (INSERT, DELETE, UPDATE,
// MERGE, CREATE TABLE ... AS), and to replace a table reference by a temporary view.

// tokKind classifies tokens.
type tokKind int

const (
	tokIdent  tokKind = iota + 1 // bare word (keywords included)
	tokQuoted                    // "quoted identifier" or `quoted identifier`
	tokString                    // 'string' (or E'...', $$...$$)
	tokNumber                    // 42, 3.14, 1e10
	tokPunct                     // operators and punctuation: ( ) , ; . => :: etc.
)

// token is one lexical token; Start and End are byte offsets in the source (End exclusive).
type token struct {
	Kind       tokKind
	Text       string // the source text
	Value      string // identifier name (unquoted) or string content (unescaped)
	Start, End int
}

// is reports whether t is the (case-insensitive) bare word w.
func (t token) is(w string) bool { return t.Kind == tokIdent && strings.EqualFold(t.Text, w) }

// punct reports whether t is the punctuation p.
func (t token) punct(p string) bool { return t.Kind == tokPunct && t.Text == p }

// name returns the identifier's name (quoted or not), or "" if t is not an identifier.
func (t token) name() string {
	if t.Kind == tokIdent || t.Kind == tokQuoted {
		return t.Value
	}
	return ""
}

// SyntaxError is a lexical error with its byte offset.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error at position %d: %s", e.Pos+1, e.Msg)
}

// tokenize splits src into tokens, dropping whitespace and comments.
func tokenize(src string) ([]token, error) {
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
				return nil, &SyntaxError{i, "unterminated /* comment"}
			}
			i += end + 4
		case c == '\'' || ((c == 'E' || c == 'e') && i+1 < len(src) && src[i+1] == '\''):
			start := i
			if c != '\'' {
				i++
			}
			val, end, ok := scanQuoted(src, i, '\'')
			if !ok {
				return nil, &SyntaxError{start, "unterminated string"}
			}
			toks = append(toks, token{Kind: tokString, Text: src[start:end], Value: val, Start: start, End: end})
			i = end
		case c == '"' || c == '`':
			val, end, ok := scanQuoted(src, i, c)
			if !ok {
				return nil, &SyntaxError{i, "unterminated quoted identifier"}
			}
			toks = append(toks, token{Kind: tokQuoted, Text: src[i:end], Value: val, Start: i, End: end})
			i = end
		case c == '$':
			// $tag$ ... $tag$ dollar-quoted string, or a $1 parameter.
			j := i + 1
			for j < len(src) && (isIdentByte(src[j]) && !(src[j] >= '0' && src[j] <= '9' && j == i+1)) {
				j++
			}
			if j < len(src) && src[j] == '$' {
				tag := src[i : j+1]
				end := strings.Index(src[j+1:], tag)
				if end < 0 {
					return nil, &SyntaxError{i, "unterminated dollar-quoted string"}
				}
				stop := j + 1 + end + len(tag)
				toks = append(toks, token{Kind: tokString, Text: src[i:stop], Value: src[j+1 : j+1+end], Start: i, End: stop})
				i = stop
				continue
			}
			j = i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			toks = append(toks, token{Kind: tokPunct, Text: src[i:j], Start: i, End: j})
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
			for _, op := range []string{"=>", "::", "<=", ">=", "<>", "!=", "||", "->>", "->", "**", "//"} {
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
	return toks, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isIdentStart(src string, i int) bool {
	r, _ := utf8.DecodeRuneInString(src[i:])
	return unicode.IsLetter(r) || r == '_'
}

// scanQuoted reads a quoted token starting at src[i] == q, where a doubled quote escapes itself.
// It returns the unescaped value and the offset after the closing quote.
func scanQuoted(src string, i int, q byte) (string, int, bool) {
	var b strings.Builder
	j := i + 1
	for j < len(src) {
		if src[j] == q {
			if j+1 < len(src) && src[j+1] == q {
				b.WriteByte(q)
				j += 2
				continue
			}
			return b.String(), j + 1, true
		}
		b.WriteByte(src[j])
		j++
	}
	return "", 0, false
}

// statement is one statement of a script: its text and tokens (offsets relative to Text).
type statement struct {
	Text   string
	Tokens []token
	// Offset is where Text starts in the script (for error positions).
	Offset int
}

// splitStatements splits a script at top-level semicolons. Empty statements are dropped.
func splitStatements(src string) ([]statement, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	var out []statement
	begin := 0 // index of the first token of the current statement
	flush := func(end int) {
		if end <= begin {
			return
		}
		start, stop := toks[begin].Start, toks[end-1].End
		text := src[start:stop]
		stmtToks := make([]token, end-begin)
		for k, t := range toks[begin:end] {
			t.Start -= start
			t.End -= start
			stmtToks[k] = t
		}
		out = append(out, statement{Text: text, Tokens: stmtToks, Offset: start})
	}
	depth := 0
	for k, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case t.punct(";") && depth <= 0:
			flush(k)
			begin = k + 1
			depth = 0
		}
	}
	flush(len(toks))
	return out, nil
}

// matchParen returns the index of the token closing the parenthesis opened at toks[open].
func matchParen(toks []token, open int) (int, bool) {
	depth := 0
	for k := open; k < len(toks); k++ {
		switch {
		case toks[k].punct("("):
			depth++
		case toks[k].punct(")"):
			depth--
			if depth == 0 {
				return k, true
			}
		}
	}
	return 0, false
}

// edit replaces src[Start:End] with Text.
type edit struct {
	Start, End int
	Text       string
}

// applyEdits applies non-overlapping edits to src.
func applyEdits(src string, edits []edit) string {
	sort.Slice(edits, func(i, j int) bool { return edits[i].Start < edits[j].Start })
	var b strings.Builder
	pos := 0
	for _, e := range edits {
		b.WriteString(src[pos:e.Start])
		b.WriteString(e.Text)
		pos = e.End
	}
	b.WriteString(src[pos:])
	return b.String()
}

// quoteIdent quotes an identifier for DuckDB.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes a string literal for DuckDB.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
