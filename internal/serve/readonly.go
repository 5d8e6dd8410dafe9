package serve

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotReadOnly: a statement given to the SQL API (or declared by an endpoint or a panel) is not
// a read-only statement.
var ErrNotReadOnly = errors.New("only read-only statements are allowed")

// readOnlyHeads are the statements the API runs: queries and the statements that describe.
var readOnlyHeads = map[string]bool{
	"SELECT": true, "FROM": true, "VALUES": true, "TABLE": true, "WITH": true,
	"DESCRIBE": true, "SHOW": true, "EXPLAIN": true, "SUMMARIZE": true, "PIVOT": true, "UNPIVOT": true,
}

// sqlToken is one token of a statement, as far as the read-only check needs to know: words
// (upper-cased in up), quoted identifiers, strings, numbers, single punctuation characters, and
// parenthesised groups (at the top level of what lexGroups returns).
type sqlToken struct {
	kind       byte // 'w' word, 'q' quoted identifier, 's' string, 'n' number, 'p' punctuation, 'g' group
	up         string
	start, end int // byte offsets in the statement ([start, end); a group's include its parentheses)
}

// lexSQL splits a statement into tokens, skipping whitespace and comments (-- to the end of the
// line, /* */ nested). Strings ('...' with doubled quotes, E'...' with backslash escapes, $tag$...$tag$)
// and quoted identifiers ("..." with "" escapes) are single tokens. Unterminated strings,
// identifiers or comments are errors naming the offset.
func lexSQL(s string) ([]sqlToken, error) {
	var out []sqlToken
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			start, depth := i, 0
			for i < len(s) {
				if strings.HasPrefix(s[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(s[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("unterminated comment at offset %d", start)
			}
		case c == '\'' || ((c == 'E' || c == 'e') && i+1 < len(s) && s[i+1] == '\''):
			start := i
			escapes := c != '\''
			if escapes {
				i++
			}
			i++
			closed := false
			for i < len(s) {
				if escapes && s[i] == '\\' {
					i += 2
					continue
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string starting at offset %d", start)
			}
			out = append(out, sqlToken{kind: 's', start: start, end: i})
		case c == '"':
			start := i
			i++
			closed := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted identifier starting at offset %d", start)
			}
			out = append(out, sqlToken{kind: 'q', start: start, end: i})
		case c == '$' && dollarTag(s[i:]) != "":
			tag := dollarTag(s[i:])
			start := i
			j := strings.Index(s[i+len(tag):], tag)
			if j < 0 {
				return nil, fmt.Errorf("unterminated %s string starting at offset %d", tag, start)
			}
			i += len(tag) + j + len(tag)
			out = append(out, sqlToken{kind: 's', start: start, end: i})
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdentPart(s[i]) {
				i++
			}
			out = append(out, sqlToken{kind: 'w', up: strings.ToUpper(s[start:i]), start: start, end: i})
		case c >= '0' && c <= '9':
			start := i
			for i < len(s) && (isIdentPart(s[i]) || s[i] == '.') {
				i++
			}
			out = append(out, sqlToken{kind: 'n', start: start, end: i})
		default:
			out = append(out, sqlToken{kind: 'p', up: string(c), start: i, end: i + 1})
			i++
		}
	}
	return out, nil
}

// dollarTag returns the $tag$ opening a dollar-quoted string at the start of s, or "".
func dollarTag(s string) string {
	if len(s) < 2 || s[0] != '$' {
		return ""
	}
	for j := 1; j < len(s); j++ {
		if s[j] == '$' {
			return s[:j+1]
		}
		if !isIdentPart(s[j]) || (j == 1 && s[j] >= '0' && s[j] <= '9') {
			return "" // $1 is a parameter, not a tag
		}
	}
	return ""
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$' }

// groupTokens folds each parenthesised part of toks into one 'g' token; unbalanced parentheses
// are errors.
func groupTokens(toks []sqlToken) ([]sqlToken, error) {
	var out []sqlToken
	depth, open := 0, 0
	for i, t := range toks {
		switch {
		case t.kind == 'p' && t.up == "(":
			if depth == 0 {
				open = i
			}
			depth++
		case t.kind == 'p' && t.up == ")":
			if depth == 0 {
				return nil, fmt.Errorf("unbalanced ')' at offset %d", t.start)
			}
			depth--
			if depth == 0 {
				out = append(out, sqlToken{kind: 'g', start: toks[open].start, end: t.end})
			}
		case depth == 0:
			out = append(out, t)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced '(' at offset %d", toks[open].start)
	}
	return out, nil
}

// checkReadOnly accepts one read-only statement: a query (SELECT, FROM, VALUES, TABLE, PIVOT,
// UNPIVOT, WITH whose main statement is a query), DESCRIBE (also HISTORY and DETAIL), SHOW,
// SUMMARIZE, or EXPLAIN of one of these. It reads only the statement's head (the first keyword,
// after comments and opening parentheses; WITH's common table expressions), not the whole
// grammar: DuckDB still rejects what is not valid. Errors wrap ErrNotReadOnly and name the
// statement kind found.
func checkReadOnly(sql string) error {
	toks, err := lexSQL(sql)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotReadOnly, err)
	}
	top, err := groupTokens(toks)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotReadOnly, err)
	}
	for i, t := range top {
		if t.kind == 'p' && t.up == ";" {
			for _, rest := range top[i+1:] {
				if !(rest.kind == 'p' && rest.up == ";") {
					return fmt.Errorf("%w: one statement at a time (found another after the ';' at offset %d)", ErrNotReadOnly, t.start)
				}
			}
			top = top[:i]
			break
		}
	}
	return checkHead(sql, top)
}

// checkHead checks the top-level tokens of one statement.
func checkHead(sql string, top []sqlToken) error {
	if len(top) == 0 {
		return fmt.Errorf("%w: the statement is empty", ErrNotReadOnly)
	}
	first := top[0]
	switch {
	case first.kind == 'g':
		return checkReadOnly(sql[first.start+1 : first.end-1]) // (SELECT ...) UNION ...
	case first.kind != 'w' || !readOnlyHeads[first.up]:
		head := sql[first.start:first.end]
		return fmt.Errorf("%w: %s statements cannot run here (read-only statements only: SELECT, WITH, FROM, VALUES, TABLE, PIVOT, UNPIVOT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)",
			ErrNotReadOnly, strings.ToUpper(head))
	case first.up == "EXPLAIN":
		rest := top[1:]
		if len(rest) > 0 && rest[0].kind == 'w' && rest[0].up == "ANALYZE" {
			rest = rest[1:]
		}
		return checkHead(sql, rest)
	case first.up == "WITH":
		return checkWith(sql, top[1:])
	}
	return nil
}

// checkWith reads WITH [RECURSIVE] name [(columns)] [USING KEY (columns)] AS [NOT] [MATERIALIZED]
// (query) [, ...] and checks each query and the main statement.
func checkWith(sql string, toks []sqlToken) error {
	bad := func(at int) error {
		off := len(sql)
		if at < len(toks) {
			off = toks[at].start
		}
		return fmt.Errorf("%w: cannot read the WITH clause at offset %d", ErrNotReadOnly, off)
	}
	i := 0
	if i < len(toks) && toks[i].kind == 'w' && toks[i].up == "RECURSIVE" {
		i++
	}
	for {
		if i >= len(toks) || (toks[i].kind != 'w' && toks[i].kind != 'q') {
			return bad(i)
		}
		i++
		if i < len(toks) && toks[i].kind == 'g' {
			i++ // column list
		}
		if i+2 < len(toks) && toks[i].up == "USING" && toks[i+1].up == "KEY" && toks[i+2].kind == 'g' {
			i += 3
		}
		if i >= len(toks) || toks[i].up != "AS" {
			return bad(i)
		}
		i++
		if i < len(toks) && toks[i].up == "NOT" {
			i++
		}
		if i < len(toks) && toks[i].up == "MATERIALIZED" {
			i++
		}
		if i >= len(toks) || toks[i].kind != 'g' {
			return bad(i)
		}
		if err := checkReadOnly(sql[toks[i].start+1 : toks[i].end-1]); err != nil {
			return err
		}
		i++
		if i < len(toks) && toks[i].kind == 'p' && toks[i].up == "," {
			i++
			continue
		}
		break
	}
	if i >= len(toks) {
		return bad(i)
	}
	main := toks[i]
	if main.kind == 'g' {
		return checkReadOnly(sql[main.start+1 : main.end-1])
	}
	switch main.up {
	case "SELECT", "FROM", "VALUES", "TABLE", "PIVOT", "UNPIVOT":
		return nil
	}
	return fmt.Errorf("%w: WITH ... %s cannot run here (the statement after WITH must be a query)", ErrNotReadOnly, strings.ToUpper(sql[main.start:main.end]))
}

// placeholder is one {name} of an endpoint's SQL, outside strings, quoted identifiers and
// comments.
type placeholder struct {
	name       string
	start, end int // the byte range of {name}
}

// findPlaceholders returns the {name} placeholders of sql in order.
func findPlaceholders(sql string) ([]placeholder, error) {
	toks, err := lexSQL(sql)
	if err != nil {
		return nil, err
	}
	var out []placeholder
	for i := 0; i+2 < len(toks); i++ {
		a, b, c := toks[i], toks[i+1], toks[i+2]
		if a.kind == 'p' && a.up == "{" && b.kind == 'w' && c.kind == 'p' && c.up == "}" && a.end == b.start && b.end == c.start {
			out = append(out, placeholder{name: sql[b.start:b.end], start: a.start, end: c.end})
			i += 2
		}
	}
	return out, nil
}

// substitute replaces each placeholder by its literal.
func substitute(sql string, phs []placeholder, literals map[string]string) string {
	var b strings.Builder
	prev := 0
	for _, p := range phs {
		b.WriteString(sql[prev:p.start])
		b.WriteString(literals[p.name])
		prev = p.end
	}
	b.WriteString(sql[prev:])
	return b.String()
}
