package pipeline

// This file is the front end of the pipeline language: it splits a pipeline file into
// statements and parses each statement's header (the Spark Declarative Pipelines / Delta Live
// Tables DDL that DuckDB cannot parse) by tokens. It is pure Go and not a SQL parser: the query
// body after AS is kept as text for DuckDB's parser, and expression texts (EXPECT, APPLY AS
// DELETE WHEN, SEQUENCE BY) are kept verbatim for DuckDB too. The only thing it rewrites in a
// body is a WATERMARK clause, which it reads and blanks out (see Statement.Query).

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// StatementKind says what a pipeline statement declares.
type StatementKind int

const (
	// StreamingTable is CREATE [OR REFRESH] STREAMING TABLE (also the legacy STREAMING LIVE TABLE
	// and INCREMENTAL LIVE TABLE): a stored table fed incrementally, each input row processed once.
	StreamingTable StatementKind = iota + 1
	// MaterializedView is CREATE [OR REFRESH] MATERIALIZED VIEW (also the legacy LIVE TABLE): a
	// stored table whose content equals its query over its inputs.
	MaterializedView
	// TemporaryView is CREATE [OR REPLACE] TEMPORARY VIEW / TEMP VIEW (also the legacy LIVE VIEW and
	// TEMPORARY LIVE VIEW): a named intermediate query, not stored.
	TemporaryView
	// Flow is CREATE FLOW name AS AUTO CDC INTO ... (also AS APPLY CHANGES INTO ...): a change
	// data capture flow into a streaming table declared elsewhere.
	Flow
)

// String returns the kind as users read it: "streaming table", "materialized view",
// "temporary view" or "flow".
func (k StatementKind) String() string {
	switch k {
	case StreamingTable:
		return "streaming table"
	case MaterializedView:
		return "materialized view"
	case TemporaryView:
		return "temporary view"
	case Flow:
		return "flow"
	}
	return fmt.Sprintf("StatementKind(%d)", int(k))
}

// Pos is a position in a pipeline file. The zero Pos means "no position".
type Pos struct {
	// File is the file name as given to ParseFile.
	File string
	// Line is the 1-based line number (lines end at '\n').
	Line int
	// Col is the 1-based column counted in BYTES: the byte offset within the line plus 1, so a
	// tab or a multi-byte UTF-8 character counts as its bytes (as in go/token).
	Col int
	// Offset is the 0-based byte offset in the file.
	Offset int
}

// String returns "file:line:col" ("line:col" when File is empty, "-" when the position is unset).
func (p Pos) String() string {
	switch {
	case p.Line <= 0 && p.File == "":
		return "-"
	case p.Line <= 0:
		return p.File
	case p.File == "":
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// SyntaxError is a front-end error at a position: a lexical error, a malformed statement header
// or WATERMARK clause, or a statement that is not one of the four kinds.
type SyntaxError struct {
	// Pos is where the offending token starts, or the end of the statement when something is
	// missing at its end. Pos.Line >= 1 always.
	Pos Pos
	// Msg describes the problem, naming what was expected or found.
	Msg string
}

// Error returns "file:line:col: message", e.g. `orders.sql:12:5: expected AS after ...`.
func (e *SyntaxError) Error() string { return e.Pos.String() + ": " + e.Msg }

// ViolationAction says what a failed expectation does to its row.
type ViolationAction int

const (
	// ActionKeep keeps the row and counts it (no ON VIOLATION clause).
	ActionKeep ViolationAction = iota
	// ActionDrop drops the row (ON VIOLATION DROP ROW).
	ActionDrop
	// ActionFail fails the update (ON VIOLATION FAIL UPDATE).
	ActionFail
)

// String returns "keep", "drop" or "fail".
func (a ViolationAction) String() string {
	switch a {
	case ActionKeep:
		return "keep"
	case ActionDrop:
		return "drop"
	case ActionFail:
		return "fail"
	}
	return fmt.Sprintf("ViolationAction(%d)", int(a))
}

// Expectation is a data quality rule of a table:
// CONSTRAINT name EXPECT (expr) [ON VIOLATION DROP ROW | ON VIOLATION FAIL UPDATE].
type Expectation struct {
	// Name is the constraint name, unquoted. Names are unique (case-insensitively) in a statement.
	Name string
	// Expr is the boolean expression text as written, without the outer parentheses (from its
	// first token to its last: surrounding whitespace and comments are not included). Never empty.
	Expr string
	// ExprPos is the position of Expr's first byte.
	ExprPos Pos
	// Action is what a failing row does.
	Action ViolationAction
	// Pos is the position of the CONSTRAINT keyword.
	Pos Pos
}

// ColumnDef is a column of a table's column list: name [type] [NOT NULL] [COMMENT 'x'].
type ColumnDef struct {
	// Name is the column name, unquoted. Names are unique (case-insensitively) in a statement.
	Name string
	// Type is the type as written with its parameters (DECIMAL(18,2), STRUCT<a INT>, VARCHAR[]),
	// its tokens joined by single spaces where the source had space or comments between them;
	// "" when omitted.
	Type string
	// NotNull is true with NOT NULL.
	NotNull bool
	// Comment is the COMMENT string, unescaped ("" when absent).
	Comment string
	// Pos is the position of the column name.
	Pos Pos
}

// Watermark is a WATERMARK clause of a query body:
// WATERMARK column DELAY OF INTERVAL <n> <unit>.
type Watermark struct {
	// Column is the event-time column as written, unquoted; a qualified name keeps its parts
	// joined by '.' ("e.ts").
	Column string
	// Delay is the allowed lateness; never negative.
	Delay time.Duration
	// Pos is the position of the WATERMARK keyword.
	Pos Pos
	// ColumnPos is the position of Column's first byte.
	ColumnPos Pos
}

// CDCSpec is the AUTO CDC clause of a flow:
//
//	AUTO CDC INTO target FROM STREAM(source) KEYS (k, ...)
//	  [IGNORE NULL UPDATES] [APPLY AS DELETE WHEN expr] [APPLY AS TRUNCATE WHEN expr]
//	  SEQUENCE BY expr [COLUMNS c, ... | COLUMNS * EXCEPT (c, ...)] [STORED AS SCD TYPE 1|2]
//	  [TRACK HISTORY ON (c, ...) | TRACK HISTORY ON * EXCEPT (c, ...)]
//
// The clauses after KEYS may come in any order, each at most once. Expression texts are kept as
// written (from their first token to their last) for DuckDB to parse.
type CDCSpec struct {
	// Target is the table the flow writes, as written, unquoted ("customers", "silver.customers").
	Target string
	// TargetPos is the position of Target.
	TargetPos Pos
	// Source is the text inside STREAM( ... ), e.g. "read_topic('customers_cdc', format => 'json')"
	// or "bronze.customers_cdc". Never empty.
	Source string
	// SourcePos is the position of Source's first byte.
	SourcePos Pos
	// Keys are the key columns, unquoted, in order; at least one, no duplicates.
	Keys []string
	// KeysPos are the positions of Keys (same length).
	KeysPos []Pos
	// DeleteWhen is the APPLY AS DELETE WHEN expression ("" if absent).
	DeleteWhen string
	// DeleteWhenPos is the position of DeleteWhen (zero if absent).
	DeleteWhenPos Pos
	// TruncateWhen is the APPLY AS TRUNCATE WHEN expression ("" if absent); only with SCD type 1.
	TruncateWhen string
	// TruncateWhenPos is the position of TruncateWhen (zero if absent).
	TruncateWhenPos Pos
	// SequenceBy is the SEQUENCE BY expression: a column or an expression such as struct(a, b).
	// Never empty (the clause is required).
	SequenceBy string
	// SequenceByPos is the position of SequenceBy.
	SequenceByPos Pos
	// Columns is the COLUMNS include list; nil means all columns.
	Columns []string
	// ExceptColumns is the COLUMNS * EXCEPT (...) list; nil when absent.
	ExceptColumns []string
	// SCDType is 1 (the default) or 2 (STORED AS SCD TYPE 2).
	SCDType int
	// TrackHistoryExcept is the TRACK HISTORY ON * EXCEPT (...) list; only with SCD type 2.
	TrackHistoryExcept []string
	// TrackHistory is the TRACK HISTORY ON (...) list; only with SCD type 2. Both nil means every
	// column is tracked.
	TrackHistory []string
	// IgnoreNullUpdates is true with IGNORE NULL UPDATES.
	IgnoreNullUpdates bool
}

// Statement is one parsed statement of a pipeline file. Statements are values built by ParseFile
// and not modified afterwards.
type Statement struct {
	// Kind is what the statement declares.
	Kind StatementKind
	// Pos is the position of the statement's first token (CREATE), after any comments.
	Pos Pos
	// OrRefresh is true when OR REFRESH or OR REPLACE was written (either is accepted for every kind).
	OrRefresh bool
	// Name is the declared name as written, unquoted ("silver_orders", "sales.orders"; a quoted
	// "x" identifier is unquoted, and the parts of a qualified name are joined by '.').
	Name string
	// NamePos is the position of Name's first byte.
	NamePos Pos
	// Columns is the column list's column definitions, in order (nil without a column list).
	Columns []ColumnDef
	// Expectations are the column list's CONSTRAINT ... EXPECT rules, in order; none for flows.
	Expectations []Expectation
	// PartitionBy is the PARTITIONED BY column list (nil when absent).
	PartitionBy []string
	// Properties are the TBLPROPERTIES key/value pairs in order, keys and values unquoted (an
	// unquoted value such as true or 10 is kept as written). Keys are unique.
	Properties [][2]string
	// Comment is the COMMENT string, unescaped.
	Comment string
	// Query is the body after AS, from its first token to the end of the statement (without the
	// ';'), empty for `CREATE STREAMING TABLE t;` with no AS and for flows. WATERMARK clauses in it
	// are replaced by spaces (newlines kept), so a byte offset in Query maps to the file at
	// QueryPos.Offset plus that offset (see PosAt).
	Query string
	// QueryPos is the position of Query's first byte (zero when Query is empty).
	QueryPos Pos
	// Watermarks are the WATERMARK clauses found in the body, in order of appearance.
	Watermarks []Watermark
	// CDC is the AUTO CDC clause; set for flows only.
	CDC *CDCSpec
	// Text is the whole statement as written, from its first token to its last (without the
	// trailing ';'); it starts at Pos.
	Text string

	// file is the parsed file, shared by its statements, for PosAt.
	file *synFile
}

// PosAt maps a byte offset inside s.Query to its position in the file. Offsets outside
// [0, len(s.Query)] are clamped; a statement without a query returns the zero Pos.
func (s *Statement) PosAt(offset int) Pos {
	if s.file == nil || s.Query == "" {
		return Pos{}
	}
	offset = max(0, min(offset, len(s.Query)))
	return s.file.pos(s.QueryPos.Offset + offset)
}

// ParseFile splits src, the content of the pipeline file named file, into statements at the
// top-level ';' (not inside strings, quoted identifiers, comments or parentheses), skips the
// empty ones (only whitespace and comments) and parses each. Statements are returned in file
// order.
//
// Errors are *SyntaxError values; when several statements are bad, their errors are joined with
// errors.Join in file order (one error per bad statement: parsing goes on with the next
// statement after an error). On error the returned slice still holds the statements that
// parsed.
func ParseFile(file string, src []byte) ([]*Statement, error) {
	f := &synFile{name: file, src: string(src)}
	f.lines = append(f.lines, 0)
	for i := 0; i < len(f.src); i++ {
		if f.src[i] == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	var stmts []*Statement
	var errs []error
	for _, piece := range synSplit(f) {
		if piece.err != nil {
			errs = append(errs, piece.err)
			continue
		}
		p := &synParser{f: f, toks: piece.toks, end: piece.toks[len(piece.toks)-1].end}
		st, err := p.parseStatement()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stmts = append(stmts, st)
	}
	switch len(errs) {
	case 0:
		return stmts, nil
	case 1:
		return stmts, errs[0]
	}
	return stmts, errors.Join(errs...)
}

// synFile is a pipeline file being parsed, with its line table.
type synFile struct {
	name  string
	src   string
	lines []int // byte offset of the start of each line; lines[0] == 0
}

// pos returns the position of byte offset off (clamped to the file).
func (f *synFile) pos(off int) Pos {
	off = max(0, min(off, len(f.src)))
	line := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off }) - 1
	return Pos{File: f.name, Line: line + 1, Col: off - f.lines[line] + 1, Offset: off}
}

// errAt returns a *SyntaxError at byte offset off.
func (f *synFile) errAt(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: f.pos(off), Msg: fmt.Sprintf(format, args...)}
}

// ---- Lexer ----

// synTokKind classifies tokens.
type synTokKind int

const (
	synTokIdent  synTokKind = iota + 1 // bare word (keywords included)
	synTokQuoted                       // "quoted identifier"
	synTokString                       // 'string', E'string', $$string$$, $tag$string$tag$
	synTokNumber                       // 42, 3.5, 1e3
	synTokPunct                        // ( ) , ; . = < > [ ] * and other operators
)

// synToken is one lexical token.
type synToken struct {
	kind       synTokKind
	text       string // the source text
	val        string // identifier name (unquoted), string content (unescaped); text otherwise
	start, end int    // byte offsets in the file, end exclusive
}

// kw reports whether t is the bare word w (case-insensitive). Quoted identifiers are never keywords.
func (t *synToken) kw(w string) bool {
	return t != nil && t.kind == synTokIdent && strings.EqualFold(t.text, w)
}

// punct reports whether t is the punctuation s.
func (t *synToken) punct(s string) bool { return t != nil && t.kind == synTokPunct && t.text == s }

// isName reports whether t is an identifier, bare or quoted ("" is not a name).
func (t *synToken) isName() bool {
	return t != nil && (t.kind == synTokIdent || t.kind == synTokQuoted && t.val != "")
}

// synLexError is where lexing stopped and why.
type synLexError struct {
	off int
	msg string
}

// synLex splits src into tokens, dropping whitespace and comments. On a lexical error (an
// unterminated string, quoted identifier or comment) it returns the tokens before it and the error.
func synLex(src string) ([]synToken, *synLexError) {
	var toks []synToken
	i := 0
	if strings.HasPrefix(src, "\uFEFF") { // byte order mark
		i = 3
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			// Block comments nest, as in DuckDB's (PostgreSQL's) scanner.
			start, depth := i, 0
			for {
				if i >= len(src) {
					return toks, &synLexError{start, "unterminated /* comment"}
				}
				if strings.HasPrefix(src[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(src[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		case c == '\'':
			val, end, ok := synScanQuoted(src, i, '\'', false)
			if !ok {
				return toks, &synLexError{i, "unterminated string"}
			}
			toks = append(toks, synToken{kind: synTokString, text: src[i:end], val: val, start: i, end: end})
			i = end
		case (c == 'E' || c == 'e') && i+1 < len(src) && src[i+1] == '\'':
			val, end, ok := synScanQuoted(src, i+1, '\'', true)
			if !ok {
				return toks, &synLexError{i, "unterminated string"}
			}
			toks = append(toks, synToken{kind: synTokString, text: src[i:end], val: val, start: i, end: end})
			i = end
		case c == '"':
			val, end, ok := synScanQuoted(src, i, '"', false)
			if !ok {
				return toks, &synLexError{i, "unterminated quoted identifier"}
			}
			toks = append(toks, synToken{kind: synTokQuoted, text: src[i:end], val: val, start: i, end: end})
			i = end
		case c == '$':
			// $tag$ ... $tag$ (the tag may be empty), else a $1 parameter or a lone '$'.
			j := i + 1
			if j < len(src) && (src[j] == '_' || synIsLetterByte(src[j])) {
				for j < len(src) && (src[j] == '_' || synIsLetterByte(src[j]) || src[j] >= '0' && src[j] <= '9') {
					j++
				}
			}
			if j < len(src) && src[j] == '$' {
				tag := src[i : j+1]
				n := strings.Index(src[j+1:], tag)
				if n < 0 {
					return toks, &synLexError{i, "unterminated dollar-quoted string"}
				}
				end := j + 1 + n + len(tag)
				toks = append(toks, synToken{kind: synTokString, text: src[i:end], val: src[j+1 : j+1+n], start: i, end: end})
				i = end
				continue
			}
			j = i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			toks = append(toks, synToken{kind: synTokPunct, text: src[i:j], val: src[i:j], start: i, end: j})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '_' || src[j] == '.') {
				j++
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && src[k] >= '0' && src[k] <= '9' {
					for k < len(src) && src[k] >= '0' && src[k] <= '9' {
						k++
					}
					j = k
				}
			}
			toks = append(toks, synToken{kind: synTokNumber, text: src[i:j], val: src[i:j], start: i, end: j})
			i = j
		default:
			r, n := utf8.DecodeRuneInString(src[i:])
			if r == '_' || unicode.IsLetter(r) {
				j := i + n
				for j < len(src) {
					r, n := utf8.DecodeRuneInString(src[j:])
					if !(r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
						break
					}
					j += n
				}
				toks = append(toks, synToken{kind: synTokIdent, text: src[i:j], val: src[i:j], start: i, end: j})
				i = j
				continue
			}
			for _, op := range synOperators {
				if strings.HasPrefix(src[i:], op) {
					n = len(op)
					break
				}
			}
			toks = append(toks, synToken{kind: synTokPunct, text: src[i : i+n], val: src[i : i+n], start: i, end: i + n})
			i += n
		}
	}
	return toks, nil
}

// synOperators are the multi-byte operators lexed as one token, longest first. '>>' and '<<' are
// not among them so that nested type parameters (ARRAY<STRUCT<a INT>>) close one by one.
var synOperators = []string{"->>", "=>", "::", "<=", ">=", "<>", "!=", "||", "->", ":="}

func synIsLetterByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 }

// synScanQuoted reads a quoted token whose opening quote q is at src[i], where a doubled quote
// stands for itself (and, with backslash, a backslash escapes the next byte). It returns the
// unescaped value and the offset after the closing quote.
func synScanQuoted(src string, i int, q byte, backslash bool) (string, int, bool) {
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; {
		case backslash && c == '\\' && j+1 < len(src):
			j++
			switch src[j] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(src[j])
			}
		case c == q && j+1 < len(src) && src[j+1] == q:
			b.WriteByte(q)
			j++
		case c == q:
			return b.String(), j + 1, true
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// ---- Splitting ----

// synPiece is one statement's tokens (without the ';'), or the error that makes it unreadable.
type synPiece struct {
	toks []synToken
	err  *SyntaxError
}

// synSplit lexes the file and splits it at top-level semicolons, dropping empty statements. A
// statement with unbalanced parentheses or a lexical error carries that error instead of being
// parsed; a lexical error ends the file (what follows it cannot be tokenized reliably).
func synSplit(f *synFile) []synPiece {
	toks, lexErr := synLex(f.src)
	var out []synPiece
	var cur []synToken
	var opens []int   // offsets of the unclosed '(' of cur
	stray := -1       // offset of the first ')' of cur without a '('
	semiInParen := -1 // offset of the first ';' of cur inside parentheses
	flush := func() {
		if len(cur) == 0 {
			return
		}
		piece := synPiece{toks: cur}
		switch {
		case stray >= 0:
			piece.err = f.errAt(stray, `unexpected ")" without a matching "("`)
		case len(opens) > 0:
			msg := `unclosed "("`
			if semiInParen >= 0 {
				msg += fmt.Sprintf(` (the ";" at %s is inside it: a ";" inside parentheses does not end a statement)`, synLineCol(f.pos(semiInParen)))
			}
			piece.err = f.errAt(opens[len(opens)-1], "%s", msg)
		}
		out = append(out, piece)
		cur, opens, stray, semiInParen = nil, nil, -1, -1
	}
	for _, t := range toks {
		switch {
		case t.punct(";") && len(opens) == 0:
			flush()
			continue
		case t.punct(";"):
			if semiInParen < 0 {
				semiInParen = t.start
			}
		case t.punct("("):
			opens = append(opens, t.start)
		case t.punct(")"):
			if len(opens) == 0 {
				if stray < 0 {
					stray = t.start
				}
			} else {
				opens = opens[:len(opens)-1]
			}
		}
		cur = append(cur, t)
	}
	if lexErr != nil {
		// The lexical error belongs to the statement being read when it occurred.
		out = append(out, synPiece{toks: cur, err: f.errAt(lexErr.off, "%s", lexErr.msg)})
		return out
	}
	flush()
	return out
}

// synLineCol renders a position as "line:col" for messages about the same file.
func synLineCol(p Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// ---- Parser ----

// synParser parses one statement's tokens. Every method that fails returns a *SyntaxError.
type synParser struct {
	f    *synFile
	toks []synToken // the statement's tokens, balanced in parentheses, at least one
	i    int        // the next token
	end  int        // offset just after the statement's last token
}

// peek returns the next token, or nil at the end of the statement.
func (p *synParser) peek() *synToken { return p.peekAt(0) }

// peekAt returns the token k places after the next one, or nil.
func (p *synParser) peekAt(k int) *synToken {
	if p.i+k < len(p.toks) {
		return &p.toks[p.i+k]
	}
	return nil
}

// atKw reports whether the next tokens are the bare words ws.
func (p *synParser) atKw(ws ...string) bool {
	for k, w := range ws {
		if !p.peekAt(k).kw(w) {
			return false
		}
	}
	return true
}

// acceptKw consumes the bare words ws if the next tokens are them.
func (p *synParser) acceptKw(ws ...string) bool {
	if !p.atKw(ws...) {
		return false
	}
	p.i += len(ws)
	return true
}

// acceptPunct consumes the punctuation s if it is next.
func (p *synParser) acceptPunct(s string) bool {
	if !p.peek().punct(s) {
		return false
	}
	p.i++
	return true
}

// pos returns the position of the next token, or of the end of the statement.
func (p *synParser) pos() Pos {
	if t := p.peek(); t != nil {
		return p.f.pos(t.start)
	}
	return p.f.pos(p.end)
}

// errf returns an error at the next token (or at the end of the statement).
func (p *synParser) errf(format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: p.pos(), Msg: fmt.Sprintf(format, args...)}
}

// expected returns "expected <what>, found <next token>" at the next token.
func (p *synParser) expected(what string) *SyntaxError {
	return p.errf("expected %s, found %s", what, p.found())
}

// found describes the next token for messages.
func (p *synParser) found() string {
	t := p.peek()
	if t == nil {
		return "end of statement"
	}
	return synQuoteTok(t)
}

// synQuoteTok quotes a token's text for messages, shortened when long.
func synQuoteTok(t *synToken) string {
	s := t.text
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// matchParen returns the index of the ')' closing the '(' at index open.
func (p *synParser) matchParen(open int) int {
	depth := 0
	for k := open; k < len(p.toks); k++ {
		switch {
		case p.toks[k].punct("("):
			depth++
		case p.toks[k].punct(")"):
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return len(p.toks) - 1 // unreachable: synSplit only passes balanced statements
}

// text returns the file text of the tokens [from, to) (from the first's start to the last's end).
func (p *synParser) text(from, to int) string {
	if from >= to {
		return ""
	}
	return p.f.src[p.toks[from].start:p.toks[to-1].end]
}

// synSupported is the end of the message for a statement that is not one of the four kinds.
const synSupported = "a pipeline file declares tables with CREATE STREAMING TABLE, CREATE MATERIALIZED VIEW, CREATE TEMPORARY VIEW or CREATE FLOW"

// synKindWords are the words that may precede TABLE, VIEW or FLOW in a CREATE statement, quoted
// in the message for an unsupported CREATE.
var synKindWords = map[string]bool{
	"OR": true, "REFRESH": true, "REPLACE": true, "STREAMING": true, "LIVE": true, "TEMPORARY": true,
	"TEMP": true, "MATERIALIZED": true, "INCREMENTAL": true, "PRIVATE": true, "GLOBAL": true,
	"EXTERNAL": true, "UNLOGGED": true, "RECURSIVE": true,
}

// unsupported returns the error for a statement that is not one of the four kinds.
func (p *synParser) unsupported() *SyntaxError {
	first := &p.toks[0]
	what := first.text
	if first.kw("CREATE") {
		last := 0
		for k := 1; k < len(p.toks) && p.toks[k].kind == synTokIdent; k++ {
			last = k
			if !synKindWords[strings.ToUpper(p.toks[k].text)] {
				break
			}
		}
		what = p.text(0, last+1)
	}
	msg := fmt.Sprintf("unsupported statement %q: %s", what, synSupported)
	if (first.kw("APPLY") || first.kw("AUTO")) && len(p.toks) > 1 && (p.toks[1].kw("CHANGES") || p.toks[1].kw("CDC")) {
		msg += " (write CREATE FLOW name AS AUTO CDC INTO ...)"
	}
	return p.f.errAt(first.start, "%s", msg)
}

// parseStatement parses the statement.
func (p *synParser) parseStatement() (*Statement, error) {
	first := p.toks[0]
	st := &Statement{Pos: p.f.pos(first.start), Text: p.f.src[first.start:p.end], file: p.f}
	if !first.kw("CREATE") {
		return nil, p.unsupported()
	}
	p.i++
	if p.acceptKw("OR") {
		if !p.acceptKw("REFRESH") && !p.acceptKw("REPLACE") {
			return nil, p.expected("REFRESH or REPLACE after CREATE OR")
		}
		st.OrRefresh = true
	}
	switch {
	case p.acceptKw("STREAMING", "TABLE"), p.acceptKw("STREAMING", "LIVE", "TABLE"), p.acceptKw("INCREMENTAL", "LIVE", "TABLE"):
		st.Kind = StreamingTable
	case p.acceptKw("MATERIALIZED", "VIEW"), p.acceptKw("LIVE", "TABLE"):
		st.Kind = MaterializedView
	case p.acceptKw("TEMPORARY", "VIEW"), p.acceptKw("TEMP", "VIEW"), p.acceptKw("TEMPORARY", "LIVE", "VIEW"),
		p.acceptKw("TEMP", "LIVE", "VIEW"), p.acceptKw("LIVE", "VIEW"):
		st.Kind = TemporaryView
	case p.acceptKw("FLOW"):
		st.Kind = Flow
	default:
		return nil, p.unsupported()
	}
	if p.atKw("IF", "NOT", "EXISTS") {
		return nil, p.errf("IF NOT EXISTS is not supported: a pipeline creates its %ss or refreshes them", st.Kind)
	}
	var err error
	st.Name, st.NamePos, err = p.parseQualifiedName("a name after CREATE " + strings.ToUpper(st.Kind.String()))
	if err != nil {
		return nil, err
	}
	if st.Kind == Flow {
		err = p.parseFlow(st)
	} else {
		err = p.parseTable(st)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// parseQualifiedName reads name(.name)*; what names the expectation in the error.
func (p *synParser) parseQualifiedName(what string) (string, Pos, error) {
	t := p.peek()
	if !t.isName() || t.kw("AS") {
		return "", Pos{}, p.expected(what)
	}
	pos := p.f.pos(t.start)
	parts := []string{t.val}
	p.i++
	for p.peek().punct(".") {
		p.i++
		t := p.peek()
		if !t.isName() || t.kw("AS") {
			return "", Pos{}, p.expected("a name after '.'")
		}
		parts = append(parts, t.val)
		p.i++
	}
	return strings.Join(parts, "."), pos, nil
}

// parseSimpleName reads one identifier, bare or quoted.
func (p *synParser) parseSimpleName(what string) (string, Pos, error) {
	t := p.peek()
	if !t.isName() {
		return "", Pos{}, p.expected(what)
	}
	p.i++
	return t.val, p.f.pos(t.start), nil
}

// parseTable parses what follows the name of a streaming table, materialized view or temporary view.
func (p *synParser) parseTable(st *Statement) error {
	if p.peek().punct("(") {
		if err := p.parseColumnList(st); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	clause := func(name string) error {
		if seen[name] {
			return p.errf("duplicate %s clause", name)
		}
		seen[name] = true
		return nil
	}
	temp := st.Kind == TemporaryView
	for p.peek() != nil {
		t := p.peek()
		switch {
		case t.kw("AS"):
			p.i++
			if p.peek() == nil {
				return p.f.errAt(p.end, "expected a query after AS")
			}
			return p.parseBody(st)
		case p.atKw("PARTITIONED", "BY"):
			if temp {
				return p.errf("PARTITIONED BY is not allowed on a temporary view: it is not stored")
			}
			if err := clause("PARTITIONED BY"); err != nil {
				return err
			}
			p.i += 2
			names, _, err := p.parseNameList(true, "PARTITIONED BY")
			if err != nil {
				return err
			}
			st.PartitionBy = names
		case p.atKw("CLUSTER", "BY"):
			return p.errf("CLUSTER BY is not supported, use PARTITIONED BY")
		case t.kw("TBLPROPERTIES"):
			if temp {
				return p.errf("TBLPROPERTIES is not allowed on a temporary view: it is not stored")
			}
			if err := clause("TBLPROPERTIES"); err != nil {
				return err
			}
			p.i++
			if err := p.parseProperties(st); err != nil {
				return err
			}
		case t.kw("COMMENT"):
			if err := clause("COMMENT"); err != nil {
				return err
			}
			p.i++
			c, err := p.parseString("a string after COMMENT (COMMENT 'text')")
			if err != nil {
				return err
			}
			st.Comment = c
		case t.punct("("):
			return p.errf("a column list must come right after the name")
		default:
			if temp {
				return p.expected("COMMENT or AS followed by the query")
			}
			return p.expected("PARTITIONED BY, TBLPROPERTIES, COMMENT or AS")
		}
	}
	if st.Kind != StreamingTable {
		return p.f.errAt(p.end, "expected AS followed by the query: a %s is defined by its query", st.Kind)
	}
	return nil
}

// parseString reads a string literal.
func (p *synParser) parseString(what string) (string, error) {
	t := p.peek()
	if t == nil || t.kind != synTokString {
		return "", p.expected(what)
	}
	p.i++
	return t.val, nil
}

// parseColumnList parses ( column_def | table_constraint , ... ).
func (p *synParser) parseColumnList(st *Statement) error {
	open := p.toks[p.i].start
	p.i++
	if p.acceptPunct(")") {
		return p.f.errAt(open, "empty column list: list columns and constraints, or remove the parentheses")
	}
	columns := map[string]bool{}
	expectations := map[string]bool{}
	for {
		t := p.peek()
		switch {
		case t.kw("CONSTRAINT"):
			e, err := p.parseConstraint()
			if err != nil {
				return err
			}
			if key := strings.ToLower(e.Name); expectations[key] {
				return p.f.errAt(e.Pos.Offset, "duplicate expectation name %q", e.Name)
			} else {
				expectations[key] = true
			}
			st.Expectations = append(st.Expectations, e)
		case p.atKw("PRIMARY", "KEY"), p.atKw("FOREIGN", "KEY"), t.kw("UNIQUE"), t.kw("CHECK"):
			return p.errf("only EXPECT constraints are supported (CONSTRAINT name EXPECT (condition)), found %s", p.found())
		case t.isName():
			c, err := p.parseColumnDef()
			if err != nil {
				return err
			}
			if key := strings.ToLower(c.Name); columns[key] {
				return p.f.errAt(c.Pos.Offset, "duplicate column %q", c.Name)
			} else {
				columns[key] = true
			}
			st.Columns = append(st.Columns, c)
		default:
			return p.expected("a column definition or CONSTRAINT name EXPECT (...)")
		}
		if p.acceptPunct(")") {
			return nil
		}
		if !p.acceptPunct(",") {
			return p.expected(`"," or ")" in the column list`)
		}
	}
}

// parseConstraint parses CONSTRAINT name EXPECT (expr) [ON VIOLATION DROP ROW | FAIL UPDATE].
func (p *synParser) parseConstraint() (Expectation, error) {
	e := Expectation{Pos: p.pos()}
	p.i++ // CONSTRAINT
	var err error
	if e.Name, _, err = p.parseSimpleName("a constraint name after CONSTRAINT"); err != nil {
		return e, err
	}
	switch t := p.peek(); {
	case t.kw("EXPECT"):
		p.i++
	case t.kw("PRIMARY"), t.kw("FOREIGN"), t.kw("UNIQUE"), t.kw("CHECK"):
		return e, p.errf("only EXPECT constraints are supported (CONSTRAINT %s EXPECT (condition)), found %s", e.Name, p.found())
	default:
		return e, p.expected(fmt.Sprintf("EXPECT (condition) after CONSTRAINT %s", e.Name))
	}
	if !p.peek().punct("(") {
		return e, p.errf("EXPECT needs a parenthesized boolean expression, found %s", p.found())
	}
	closing := p.matchParen(p.i)
	if closing == p.i+1 {
		return e, p.errf("EXPECT needs a parenthesized boolean expression, found an empty ()")
	}
	e.Expr = p.text(p.i+1, closing)
	e.ExprPos = p.f.pos(p.toks[p.i+1].start)
	p.i = closing + 1
	if p.acceptKw("ON") {
		if !p.acceptKw("VIOLATION") {
			return e, p.expected("VIOLATION after ON")
		}
		switch {
		case p.acceptKw("DROP", "ROW"):
			e.Action = ActionDrop
		case p.acceptKw("FAIL", "UPDATE"):
			e.Action = ActionFail
		default:
			t := p.peek()
			if t == nil || t.kind != synTokIdent {
				return e, p.expected("DROP ROW or FAIL UPDATE after ON VIOLATION")
			}
			what := t.text
			if n := p.peekAt(1); (t.kw("DROP") || t.kw("FAIL")) && n != nil && n.kind == synTokIdent {
				what += " " + n.text
			}
			return e, p.errf("unknown ON VIOLATION action %q: use DROP ROW or FAIL UPDATE", what)
		}
	}
	return e, nil
}

// synTypeEnd are the words that end a column's type: its options, supported or not.
var synTypeEnd = map[string]bool{
	"NOT": true, "NULL": true, "COMMENT": true, "DEFAULT": true, "GENERATED": true, "PRIMARY": true,
	"REFERENCES": true, "CHECK": true, "MASK": true, "UNIQUE": true, "CONSTRAINT": true, "COLLATE": true,
	"FOREIGN": true,
}

// parseColumnDef parses name [type] [NOT NULL] [COMMENT 'x'].
func (p *synParser) parseColumnDef() (ColumnDef, error) {
	var c ColumnDef
	var err error
	if c.Name, c.Pos, err = p.parseSimpleName("a column name"); err != nil {
		return c, err
	}
	// The type runs to the next ',' or ')' outside its own brackets, or to an option word.
	var typ strings.Builder
	parens, angles, brackets := 0, 0, 0
	var prevEnd int
	for {
		t := p.peek()
		if t == nil {
			break
		}
		if parens == 0 && angles == 0 && brackets == 0 &&
			(t.punct(",") || t.punct(")") || t.kind == synTokIdent && synTypeEnd[strings.ToUpper(t.text)]) {
			break
		}
		switch {
		case t.punct("("):
			parens++
		case t.punct(")"):
			if parens == 0 {
				return c, p.errf("unclosed brackets in the type of column %s", c.Name)
			}
			parens--
		case t.punct("<"):
			angles++
		case t.punct(">"):
			if angles == 0 {
				return c, p.errf("unexpected \">\" in the type of column %s", c.Name)
			}
			angles--
		case t.punct("["):
			brackets++
		case t.punct("]"):
			if brackets == 0 {
				return c, p.errf("unexpected \"]\" in the type of column %s", c.Name)
			}
			brackets--
		case t.punct(";"):
			return c, p.errf("unexpected \";\" in the type of column %s", c.Name)
		}
		if typ.Len() > 0 && t.start > prevEnd {
			typ.WriteByte(' ')
		}
		typ.WriteString(t.text)
		prevEnd = t.end
		p.i++
	}
	if angles > 0 || brackets > 0 || parens > 0 {
		return c, p.errf("unclosed brackets in the type of column %s", c.Name)
	}
	c.Type = typ.String()
	for {
		t := p.peek()
		switch {
		case t == nil || t.punct(",") || t.punct(")"):
			return c, nil
		case p.acceptKw("NOT", "NULL"):
			c.NotNull = true
		case t.kw("NOT"):
			p.i++
			return c, p.expected("NULL after NOT")
		case t.kw("NULL"):
			p.i++
		case t.kw("COMMENT"):
			p.i++
			if c.Comment, err = p.parseString("a string after COMMENT (COMMENT 'text')"); err != nil {
				return c, err
			}
		case t.kw("PRIMARY"), t.kw("FOREIGN"), t.kw("UNIQUE"), t.kw("CHECK"), t.kw("REFERENCES"), t.kw("CONSTRAINT"):
			return c, p.errf("only EXPECT constraints are supported (CONSTRAINT name EXPECT (condition) as an item of the column list), found %s", p.found())
		default:
			return c, p.errf("unsupported column option %s: a column definition is name [type] [NOT NULL] [COMMENT 'text']", p.found())
		}
	}
}

// parseNameList parses a list of column names: "(a, b)" when parens, else "a, b". clause names
// the clause in errors. Names are unquoted; duplicates are an error.
func (p *synParser) parseNameList(parens bool, clause string) ([]string, []Pos, error) {
	if parens && !p.acceptPunct("(") {
		return nil, nil, p.errf("%s needs a parenthesized list of column names, found %s", clause, p.found())
	}
	var names []string
	var poss []Pos
	seen := map[string]bool{}
	for {
		t := p.peek()
		if !t.isName() {
			if parens && t.punct(")") && len(names) == 0 {
				return nil, nil, p.errf("%s needs at least one column name", clause)
			}
			return nil, nil, p.expected("a column name in " + clause)
		}
		if key := strings.ToLower(t.val); seen[key] {
			return nil, nil, p.errf("duplicate column %q in %s", t.val, clause)
		} else {
			seen[key] = true
		}
		names = append(names, t.val)
		poss = append(poss, p.f.pos(t.start))
		p.i++
		if p.acceptPunct(",") {
			continue
		}
		if parens && !p.acceptPunct(")") {
			return nil, nil, p.expected(`"," or ")" in ` + clause)
		}
		return names, poss, nil
	}
}

// parseProperties parses ('k' = 'v', ...) after TBLPROPERTIES. Keys are strings or dotted names,
// '=' is optional, values are strings, numbers or bare words (true, false).
func (p *synParser) parseProperties(st *Statement) error {
	if !p.acceptPunct("(") {
		return p.errf("TBLPROPERTIES needs a parenthesized list of 'key' = 'value' pairs, found %s", p.found())
	}
	seen := map[string]bool{}
	for {
		var key string
		keyPos := p.pos()
		switch t := p.peek(); {
		case t != nil && t.kind == synTokString:
			key = t.val
			p.i++
		case t.isName():
			k, _, err := p.parseQualifiedName("a property key")
			if err != nil {
				return err
			}
			key = k
		default:
			return p.expected("a property key ('key' = 'value')")
		}
		if seen[key] {
			return &SyntaxError{Pos: keyPos, Msg: fmt.Sprintf("duplicate table property %q", key)}
		}
		seen[key] = true
		p.acceptPunct("=")
		var val string
		switch t := p.peek(); {
		case t == nil:
			return p.expected(fmt.Sprintf("a value for property %q", key))
		case t.kind == synTokString:
			val = t.val
			p.i++
		case t.kind == synTokNumber || t.kind == synTokIdent:
			val = t.text
			p.i++
		case t.punct("-") && p.peekAt(1) != nil && p.peekAt(1).kind == synTokNumber:
			val = "-" + p.peekAt(1).text
			p.i += 2
		default:
			return p.expected(fmt.Sprintf("a value for property %q", key))
		}
		st.Properties = append(st.Properties, [2]string{key, val})
		if p.acceptPunct(")") {
			return nil
		}
		if !p.acceptPunct(",") {
			return p.expected(`"," or ")" in TBLPROPERTIES`)
		}
	}
}

// parseBody takes the rest of the statement as the query and reads its WATERMARK clauses.
func (p *synParser) parseBody(st *Statement) error {
	start := p.toks[p.i].start
	st.QueryPos = p.f.pos(start)
	body := []byte(p.f.src[start:p.end])
	for p.i < len(p.toks) {
		if !p.atWatermark() {
			p.i++
			continue
		}
		w, from, to, err := p.parseWatermark()
		if err != nil {
			return err
		}
		for k := from - start; k < to-start; k++ {
			if body[k] != '\n' && body[k] != '\r' {
				body[k] = ' '
			}
		}
		st.Watermarks = append(st.Watermarks, w)
	}
	st.Query = string(body)
	return nil
}

// atWatermark reports whether the next token starts a WATERMARK clause: the bare word WATERMARK
// followed by a (qualified) name and DELAY, or WATERMARK right after STREAM(...) [[AS] alias].
// A column or alias that happens to be called watermark is neither.
func (p *synParser) atWatermark() bool {
	if !p.peek().kw("WATERMARK") {
		return false
	}
	k := p.i + 1
	if k < len(p.toks) && p.toks[k].isName() {
		k++
		for k+1 < len(p.toks) && p.toks[k].punct(".") && p.toks[k+1].isName() {
			k += 2
		}
		if k < len(p.toks) && p.toks[k].kw("DELAY") {
			return true
		}
	}
	// After STREAM(...), STREAM(...) alias or STREAM(...) AS alias?
	k = p.i - 1
	if k >= 0 && p.toks[k].isName() {
		k--
		if k >= 0 && p.toks[k].kw("AS") {
			k--
		}
	}
	if k < 0 || !p.toks[k].punct(")") {
		return false
	}
	depth := 0
	for ; k >= 0; k-- {
		switch {
		case p.toks[k].punct(")"):
			depth++
		case p.toks[k].punct("("):
			depth--
		}
		if depth == 0 {
			break
		}
	}
	return k > 0 && p.toks[k-1].kw("STREAM")
}

// parseWatermark parses WATERMARK column DELAY OF INTERVAL ... at the next token. It returns the
// clause and its byte range in the file.
func (p *synParser) parseWatermark() (w Watermark, from, to int, err error) {
	w.Pos = p.pos()
	from = p.toks[p.i].start
	p.i++
	w.ColumnPos = p.pos()
	if p.atKw("DELAY", "OF") {
		return w, 0, 0, p.expected("an event-time column after WATERMARK")
	}
	if w.Column, _, err = p.parseQualifiedName("an event-time column after WATERMARK"); err != nil {
		return w, 0, 0, err
	}
	if !p.acceptKw("DELAY", "OF") {
		return w, 0, 0, p.expected(fmt.Sprintf("DELAY OF INTERVAL ... after WATERMARK %s", w.Column))
	}
	if !p.acceptKw("INTERVAL") {
		return w, 0, 0, p.expected("INTERVAL after DELAY OF (e.g. DELAY OF INTERVAL 10 MINUTES)")
	}
	if w.Delay, err = p.parseInterval(); err != nil {
		return w, 0, 0, err
	}
	return w, from, p.toks[p.i-1].end, nil
}

// parseFlow parses what follows the name of a flow:
// [COMMENT '...'] AS (AUTO CDC | APPLY CHANGES) INTO target FROM STREAM(source) KEYS (...) clauses.
func (p *synParser) parseFlow(st *Statement) error {
	if p.acceptKw("COMMENT") {
		c, err := p.parseString("a string after COMMENT (COMMENT 'text')")
		if err != nil {
			return err
		}
		st.Comment = c
	}
	if !p.acceptKw("AS") {
		return p.expected(fmt.Sprintf("AS AUTO CDC INTO ... after CREATE FLOW %s", st.Name))
	}
	if !p.acceptKw("AUTO", "CDC", "INTO") && !p.acceptKw("APPLY", "CHANGES", "INTO") {
		if p.atKw("INSERT") {
			return p.errf("only AUTO CDC flows are supported: expected AUTO CDC INTO or APPLY CHANGES INTO after AS, found an append flow (INSERT INTO)")
		}
		return p.expected("AUTO CDC INTO or APPLY CHANGES INTO after AS (only AUTO CDC flows are supported)")
	}
	cdc := &CDCSpec{SCDType: 1}
	var err error
	if cdc.Target, cdc.TargetPos, err = p.parseQualifiedName("a target table after AUTO CDC INTO"); err != nil {
		return err
	}
	if !p.acceptKw("FROM") {
		return p.expected(fmt.Sprintf("FROM STREAM(source) after AUTO CDC INTO %s", cdc.Target))
	}
	if !p.atKw("STREAM") || !p.peekAt(1).punct("(") {
		return p.expected("STREAM(source) after FROM: an AUTO CDC flow reads a stream")
	}
	open := p.i + 1
	closing := p.matchParen(open)
	if closing == open+1 {
		return p.f.errAt(p.toks[closing].start, "STREAM() needs a source: a table name or read_topic(...)/read_files(...)")
	}
	cdc.Source = p.text(open+1, closing)
	cdc.SourcePos = p.f.pos(p.toks[open+1].start)
	p.i = closing + 1
	if !p.acceptKw("KEYS") {
		return p.expected("KEYS (...) after FROM STREAM(...)")
	}
	if cdc.Keys, cdc.KeysPos, err = p.parseNameList(true, "KEYS"); err != nil {
		return err
	}
	seen := map[string]bool{}
	clause := func(name string, words int) error {
		if seen[name] {
			return p.errf("duplicate %s clause", name)
		}
		seen[name] = true
		p.i += words
		return nil
	}
	scdPos := Pos{}
	var truncatePos, trackPos Pos
	for p.peek() != nil {
		switch {
		case p.atKw("IGNORE", "NULL", "UPDATES"):
			if err := clause("IGNORE NULL UPDATES", 3); err != nil {
				return err
			}
			cdc.IgnoreNullUpdates = true
		case p.atKw("APPLY", "AS", "DELETE", "WHEN"):
			if err := clause("APPLY AS DELETE WHEN", 4); err != nil {
				return err
			}
			if cdc.DeleteWhen, cdc.DeleteWhenPos, err = p.parseFlowExpr("APPLY AS DELETE WHEN"); err != nil {
				return err
			}
		case p.atKw("APPLY", "AS", "TRUNCATE", "WHEN"):
			truncatePos = p.pos()
			if err := clause("APPLY AS TRUNCATE WHEN", 4); err != nil {
				return err
			}
			if cdc.TruncateWhen, cdc.TruncateWhenPos, err = p.parseFlowExpr("APPLY AS TRUNCATE WHEN"); err != nil {
				return err
			}
		case p.atKw("APPLY", "AS"):
			p.i += 2
			return p.expected("DELETE WHEN or TRUNCATE WHEN after APPLY AS")
		case p.atKw("SEQUENCE", "BY"):
			if err := clause("SEQUENCE BY", 2); err != nil {
				return err
			}
			if cdc.SequenceBy, cdc.SequenceByPos, err = p.parseFlowExpr("SEQUENCE BY"); err != nil {
				return err
			}
		case p.atKw("COLUMNS"):
			if err := clause("COLUMNS", 1); err != nil {
				return err
			}
			if cdc.Columns, cdc.ExceptColumns, err = p.parseColumnSelection("COLUMNS"); err != nil {
				return err
			}
		case p.atKw("STORED", "AS"):
			scdPos = p.pos()
			if err := clause("STORED AS", 2); err != nil {
				return err
			}
			if !p.acceptKw("SCD", "TYPE") {
				return p.expected("SCD TYPE 1 or SCD TYPE 2 after STORED AS")
			}
			t := p.peek()
			switch {
			case t == nil || t.kind != synTokNumber:
				return p.expected("1 or 2 after STORED AS SCD TYPE")
			case t.text == "1":
				cdc.SCDType = 1
			case t.text == "2":
				cdc.SCDType = 2
			default:
				return p.errf("unknown SCD type %s: use 1 or 2", t.text)
			}
			p.i++
		case p.atKw("TRACK", "HISTORY"):
			trackPos = p.pos()
			if err := clause("TRACK HISTORY", 2); err != nil {
				return err
			}
			if !p.acceptKw("ON") {
				return p.expected("ON after TRACK HISTORY")
			}
			if cdc.TrackHistory, cdc.TrackHistoryExcept, err = p.parseColumnSelection("TRACK HISTORY ON"); err != nil {
				return err
			}
		case p.atKw("KEYS"):
			return p.errf("KEYS must come right after FROM STREAM(...), once")
		default:
			return p.expected("IGNORE NULL UPDATES, APPLY AS DELETE WHEN, APPLY AS TRUNCATE WHEN, SEQUENCE BY, COLUMNS, STORED AS SCD TYPE or TRACK HISTORY ON")
		}
	}
	if cdc.SequenceBy == "" {
		return p.f.errAt(p.end, "expected SEQUENCE BY <column or expression>: an AUTO CDC flow orders the changes of a key by it")
	}
	if cdc.TruncateWhen != "" && cdc.SCDType != 1 {
		return &SyntaxError{Pos: truncatePos, Msg: "APPLY AS TRUNCATE WHEN is supported only with SCD type 1"}
	}
	if (cdc.TrackHistory != nil || cdc.TrackHistoryExcept != nil) && cdc.SCDType != 2 {
		if scdPos.Line == 0 {
			return &SyntaxError{Pos: trackPos, Msg: "TRACK HISTORY needs STORED AS SCD TYPE 2"}
		}
		return &SyntaxError{Pos: trackPos, Msg: "TRACK HISTORY is supported only with SCD type 2"}
	}
	st.CDC = cdc
	return nil
}

// atFlowClause reports whether the token at index k starts a clause of the AUTO CDC grammar; it
// ends an expression.
func (p *synParser) atFlowClause(k int) bool {
	t := &p.toks[k]
	next := func(w string) bool { return k+1 < len(p.toks) && p.toks[k+1].kw(w) }
	switch {
	case t.kw("IGNORE"):
		return next("NULL")
	case t.kw("APPLY"), t.kw("STORED"):
		return next("AS")
	case t.kw("SEQUENCE"):
		return next("BY")
	case t.kw("TRACK"):
		return next("HISTORY")
	case t.kw("COLUMNS"):
		return true
	case t.kw("KEYS"):
		return k+1 < len(p.toks) && p.toks[k+1].punct("(")
	}
	return false
}

// parseFlowExpr reads an expression up to the next top-level clause of the flow grammar.
func (p *synParser) parseFlowExpr(clause string) (string, Pos, error) {
	start := p.i
	depth := 0
	for p.i < len(p.toks) {
		t := &p.toks[p.i]
		if depth == 0 && p.atFlowClause(p.i) {
			break
		}
		switch {
		case t.punct("("), t.punct("["):
			depth++
		case t.punct(")"), t.punct("]"):
			depth--
		}
		p.i++
	}
	if p.i == start {
		return "", Pos{}, p.expected("an expression after " + clause)
	}
	return p.text(start, p.i), p.f.pos(p.toks[start].start), nil
}

// parseColumnSelection parses "a, b", "(a, b)", "*" or "* EXCEPT (a, b)" after COLUMNS or TRACK
// HISTORY ON. It returns the include list or the except list (both nil for a bare "*").
func (p *synParser) parseColumnSelection(clause string) (include, except []string, err error) {
	if p.acceptPunct("*") {
		if !p.acceptKw("EXCEPT") {
			return nil, nil, nil
		}
		except, _, err = p.parseNameList(true, clause+" * EXCEPT")
		return nil, except, err
	}
	include, _, err = p.parseNameList(p.peek().punct("("), clause)
	return include, nil, err
}
