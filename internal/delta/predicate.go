package delta

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Expr is a boolean predicate over a table's columns, used for partition predicates (replaceWhere,
// conflict detection) and, later, data skipping. Expressions are immutable.
//
// Evaluation follows SQL's three-valued logic: a comparison with NULL is unknown, and a file or
// partition matches only when the predicate is true.
type Expr interface {
	// String renders the predicate in SQL.
	String() string
	// Columns lists the column names the predicate references (as written).
	Columns() []string
	// EvalPartition evaluates the predicate against partition values keyed by lower-cased logical
	// column name. It returns true only when the predicate is definitely true.
	EvalPartition(values map[string]scalar.Scalar) bool
	eval(values map[string]scalar.Scalar) tri
}

// tri is a SQL truth value.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// Column references a column by name (case-insensitive).
type Column struct{ Name string }

// Literal is a constant; Text holds its SQL spelling (strings unquoted), Kind its lexical kind:
// "string", "number", "bool", "null", "date", "timestamp".
type Literal struct {
	Text string
	Kind string
}

// Comparison is Left Op Right with Op one of = != < <= > >= (Left and Right are a Column and a
// Literal, in either order).
type Comparison struct {
	Op          string
	Left, Right Expr
}

// InList is Col [NOT] IN (literals).
type InList struct {
	Col    *Column
	Values []*Literal
	Not    bool
}

// IsNull is Col IS [NOT] NULL.
type IsNull struct {
	Col *Column
	Not bool
}

// And, Or and Not combine predicates.
type (
	And struct{ Left, Right Expr }
	Or  struct{ Left, Right Expr }
	Not struct{ Inner Expr }
)

func (c *Column) String() string { return quoteIdent(c.Name) }
func (l *Literal) String() string {
	switch l.Kind {
	case "string":
		return "'" + strings.ReplaceAll(l.Text, "'", "''") + "'"
	case "date":
		return "DATE '" + l.Text + "'"
	case "timestamp":
		return "TIMESTAMP '" + l.Text + "'"
	case "null":
		return "NULL"
	}
	return l.Text
}
func (e *Comparison) String() string { return e.Left.String() + " " + e.Op + " " + e.Right.String() }
func (e *InList) String() string {
	parts := make([]string, len(e.Values))
	for i, v := range e.Values {
		parts[i] = v.String()
	}
	not := ""
	if e.Not {
		not = "NOT "
	}
	return e.Col.String() + " " + not + "IN (" + strings.Join(parts, ", ") + ")"
}
func (e *IsNull) String() string {
	if e.Not {
		return e.Col.String() + " IS NOT NULL"
	}
	return e.Col.String() + " IS NULL"
}
func (e *And) String() string { return "(" + e.Left.String() + " AND " + e.Right.String() + ")" }
func (e *Or) String() string  { return "(" + e.Left.String() + " OR " + e.Right.String() + ")" }
func (e *Not) String() string { return "NOT (" + e.Inner.String() + ")" }

func (c *Column) Columns() []string     { return []string{c.Name} }
func (l *Literal) Columns() []string    { return nil }
func (e *Comparison) Columns() []string { return append(e.Left.Columns(), e.Right.Columns()...) }
func (e *InList) Columns() []string     { return e.Col.Columns() }
func (e *IsNull) Columns() []string     { return e.Col.Columns() }
func (e *And) Columns() []string        { return append(e.Left.Columns(), e.Right.Columns()...) }
func (e *Or) Columns() []string         { return append(e.Left.Columns(), e.Right.Columns()...) }
func (e *Not) Columns() []string        { return e.Inner.Columns() }

func (c *Column) EvalPartition(v map[string]scalar.Scalar) bool { return false }
func (l *Literal) EvalPartition(v map[string]scalar.Scalar) bool {
	return l.Kind == "bool" && strings.EqualFold(l.Text, "true")
}
func (e *Comparison) EvalPartition(v map[string]scalar.Scalar) bool { return e.eval(v) == triTrue }
func (e *InList) EvalPartition(v map[string]scalar.Scalar) bool     { return e.eval(v) == triTrue }
func (e *IsNull) EvalPartition(v map[string]scalar.Scalar) bool     { return e.eval(v) == triTrue }
func (e *And) EvalPartition(v map[string]scalar.Scalar) bool        { return e.eval(v) == triTrue }
func (e *Or) EvalPartition(v map[string]scalar.Scalar) bool         { return e.eval(v) == triTrue }
func (e *Not) EvalPartition(v map[string]scalar.Scalar) bool        { return e.eval(v) == triTrue }

func (c *Column) eval(map[string]scalar.Scalar) tri { return triUnknown }
func (l *Literal) eval(map[string]scalar.Scalar) tri {
	if l.Kind == "bool" {
		return triOf(strings.EqualFold(l.Text, "true"))
	}
	return triUnknown
}

func (e *And) eval(v map[string]scalar.Scalar) tri {
	l, r := e.Left.eval(v), e.Right.eval(v)
	switch {
	case l == triFalse || r == triFalse:
		return triFalse
	case l == triTrue && r == triTrue:
		return triTrue
	}
	return triUnknown
}

func (e *Or) eval(v map[string]scalar.Scalar) tri {
	l, r := e.Left.eval(v), e.Right.eval(v)
	switch {
	case l == triTrue || r == triTrue:
		return triTrue
	case l == triFalse && r == triFalse:
		return triFalse
	}
	return triUnknown
}

func (e *Not) eval(v map[string]scalar.Scalar) tri {
	switch e.Inner.eval(v) {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

func (e *IsNull) eval(v map[string]scalar.Scalar) tri {
	s, ok := v[strings.ToLower(e.Col.Name)]
	isNull := !ok || s == nil || !s.IsValid()
	return triOf(isNull != e.Not)
}

func (e *Comparison) eval(v map[string]scalar.Scalar) tri {
	col, lit, op := e.Left, e.Right, e.Op
	if _, ok := col.(*Column); !ok {
		col, lit, op = e.Right, e.Left, flipOp(e.Op)
	}
	c, ok1 := col.(*Column)
	l, ok2 := lit.(*Literal)
	if !ok1 || !ok2 {
		return triUnknown
	}
	s, ok := v[strings.ToLower(c.Name)]
	if !ok || s == nil || !s.IsValid() || l.Kind == "null" {
		return triUnknown
	}
	cmp, err := compareScalarLiteral(s, l)
	if err != nil {
		return triUnknown
	}
	switch op {
	case "=":
		return triOf(cmp == 0)
	case "!=":
		return triOf(cmp != 0)
	case "<":
		return triOf(cmp < 0)
	case "<=":
		return triOf(cmp <= 0)
	case ">":
		return triOf(cmp > 0)
	case ">=":
		return triOf(cmp >= 0)
	}
	return triUnknown
}

func (e *InList) eval(v map[string]scalar.Scalar) tri {
	s, ok := v[strings.ToLower(e.Col.Name)]
	if !ok || s == nil || !s.IsValid() {
		return triUnknown
	}
	result := triFalse
	for _, l := range e.Values {
		if l.Kind == "null" {
			result = triUnknown
			continue
		}
		if cmp, err := compareScalarLiteral(s, l); err == nil && cmp == 0 {
			result = triTrue
			break
		}
	}
	if e.Not {
		switch result {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
	}
	return result
}

func flipOp(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

// compareScalarLiteral compares a typed value with a literal converted to the value's type.
func compareScalarLiteral(s scalar.Scalar, l *Literal) (int, error) {
	dt, err := FromArrowType(s.DataType())
	if err != nil {
		return 0, err
	}
	ls, err := ParsePartitionValue(l.Text, dt)
	if err != nil {
		return 0, fmt.Errorf("literal %s does not fit type %s: %w", l, dt, err)
	}
	if !ls.IsValid() {
		return 0, fmt.Errorf("empty literal")
	}
	return CompareScalars(s, ls)
}

// CompareScalars orders two valid scalars of the same Arrow type: -1, 0 or 1.
func CompareScalars(a, b scalar.Scalar) (int, error) {
	switch x := a.(type) {
	case *scalar.Int8:
		return cmpOrdered(int64(x.Value), int64(b.(*scalar.Int8).Value)), nil
	case *scalar.Int16:
		return cmpOrdered(int64(x.Value), int64(b.(*scalar.Int16).Value)), nil
	case *scalar.Int32:
		return cmpOrdered(int64(x.Value), int64(b.(*scalar.Int32).Value)), nil
	case *scalar.Int64:
		return cmpOrdered(x.Value, b.(*scalar.Int64).Value), nil
	case *scalar.Float32:
		return cmpOrdered(float64(x.Value), float64(b.(*scalar.Float32).Value)), nil
	case *scalar.Float64:
		return cmpOrdered(x.Value, b.(*scalar.Float64).Value), nil
	case *scalar.Date32:
		return cmpOrdered(int64(x.Value), int64(b.(*scalar.Date32).Value)), nil
	case *scalar.Timestamp:
		return cmpOrdered(int64(x.Value), int64(b.(*scalar.Timestamp).Value)), nil
	case *scalar.Boolean:
		return cmpOrdered(boolInt(x.Value), boolInt(b.(*scalar.Boolean).Value)), nil
	case *scalar.String:
		return strings.Compare(x.String(), b.(*scalar.String).String()), nil
	case *scalar.Binary:
		return bytes.Compare(x.Data(), b.(*scalar.Binary).Data()), nil
	case *scalar.Decimal128:
		y := b.(*scalar.Decimal128)
		return x.Value.BigInt().Cmp(y.Value.BigInt()), nil
	}
	return 0, fmt.Errorf("cannot compare values of type %s", a.DataType())
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TypedPartitionValues parses a file's partition values into typed scalars keyed by lower-cased
// logical column name. Values are looked up by physical name under column mapping.
func TypedPartitionValues(schema *StructType, partitionColumns []string, mode string, pv PartitionValues) (map[string]scalar.Scalar, error) {
	out := make(map[string]scalar.Scalar, len(partitionColumns))
	for _, name := range partitionColumns {
		f := schema.Field(name)
		if f == nil {
			return nil, fmt.Errorf("%w: partition column %q is not in the schema", ErrCorrupt, name)
		}
		key := name
		if mode != "none" {
			key = f.PhysicalName()
		}
		raw, ok := pv[key]
		if !ok {
			raw, ok = pv[name]
		}
		if !ok {
			return nil, fmt.Errorf("%w: file has no value for partition column %q", ErrCorrupt, name)
		}
		s, err := ParsePartitionValue(raw, f.Type)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(name)] = s
	}
	return out, nil
}

// --- parsing ---

// ParsePredicate parses a SQL boolean expression over columns: comparisons (= == != <> < <= > >=),
// [NOT] IN (...), IS [NOT] NULL, [NOT] BETWEEN a AND b, AND, OR, NOT and parentheses; literals are
// 'strings', numbers, TRUE/FALSE, NULL, DATE '...' and TIMESTAMP '...'; identifiers may be quoted
// with double quotes or backquotes. Errors give the column (1-based) of the problem.
func ParsePredicate(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &predParser{src: s, toks: toks}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if !p.at(tokEOF, "") {
		return nil, p.errorf("unexpected %q", p.peek().text)
	}
	return e, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp
	tokKeyword
)

type token struct {
	kind tokKind
	text string
	pos  int
}

var keywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "IN": true, "IS": true, "NULL": true,
	"TRUE": true, "FALSE": true, "DATE": true, "TIMESTAMP": true, "BETWEEN": true}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("predicate %q: column %d: unterminated string", s, i+1)
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			toks = append(toks, token{tokString, b.String(), i})
			i = j + 1
		case c == '"' || c == '`':
			j := strings.IndexByte(s[i+1:], s[i])
			if j < 0 {
				return nil, fmt.Errorf("predicate %q: column %d: unterminated quoted identifier", s, i+1)
			}
			toks = append(toks, token{tokIdent, s[i+1 : i+1+j], i})
			i += j + 2
		case c >= '0' && c <= '9' || (c == '-' || c == '.') && i+1 < len(s) && (s[i+1] >= '0' && s[i+1] <= '9'):
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				(s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			toks = append(toks, token{tokNumber, s[i:j], i})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i + 1
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_' || s[j] == '.') {
				j++
			}
			word := s[i:j]
			if keywords[strings.ToUpper(word)] {
				toks = append(toks, token{tokKeyword, strings.ToUpper(word), i})
			} else {
				toks = append(toks, token{tokIdent, word, i})
			}
			i = j
		default:
			op, n := lexOp(s[i:])
			if n == 0 {
				return nil, fmt.Errorf("predicate %q: column %d: unexpected character %q", s, i+1, c)
			}
			toks = append(toks, token{tokOp, op, i})
			i += n
		}
	}
	return append(toks, token{tokEOF, "", len(s)}), nil
}

// lexOp recognises an operator at the start of s, returning its canonical spelling and length.
func lexOp(s string) (string, int) {
	for _, op := range []string{"<=", ">=", "<>", "!=", "=="} {
		if strings.HasPrefix(s, op) {
			switch op {
			case "<>":
				return "!=", 2
			case "==":
				return "=", 2
			}
			return op, 2
		}
	}
	if len(s) > 0 && strings.ContainsRune("=<>(),", rune(s[0])) {
		return s[:1], 1
	}
	return "", 0
}

type predParser struct {
	src  string
	toks []token
	i    int
}

func (p *predParser) peek() token { return p.toks[p.i] }
func (p *predParser) next() token { t := p.toks[p.i]; p.i++; return t }
func (p *predParser) at(k tokKind, text string) bool {
	t := p.peek()
	return t.kind == k && (text == "" || t.text == text)
}
func (p *predParser) accept(k tokKind, text string) bool {
	if p.at(k, text) {
		p.i++
		return true
	}
	return false
}
func (p *predParser) errorf(format string, args ...any) error {
	return fmt.Errorf("predicate %q: column %d: %s", p.src, p.peek().pos+1, fmt.Sprintf(format, args...))
}

func (p *predParser) parseOr() (Expr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.accept(tokKeyword, "OR") {
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &Or{l, r}
	}
	return l, nil
}

func (p *predParser) parseAnd() (Expr, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.accept(tokKeyword, "AND") {
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = &And{l, r}
	}
	return l, nil
}

func (p *predParser) parseNot() (Expr, error) {
	if p.accept(tokKeyword, "NOT") {
		e, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &Not{e}, nil
	}
	return p.parsePredicate()
}

func (p *predParser) parsePredicate() (Expr, error) {
	if p.accept(tokOp, "(") {
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if !p.accept(tokOp, ")") {
			return nil, p.errorf("expected )")
		}
		return e, nil
	}
	left, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	if lit, ok := left.(*Literal); ok && lit.Kind == "bool" && !(p.peek().kind == tokOp && isComparisonOp(p.peek().text)) {
		return lit, nil
	}
	not := p.accept(tokKeyword, "NOT")
	switch {
	case p.accept(tokKeyword, "IN"):
		col, ok := left.(*Column)
		if !ok {
			return nil, p.errorf("IN needs a column on its left")
		}
		if !p.accept(tokOp, "(") {
			return nil, p.errorf("expected ( after IN")
		}
		in := &InList{Col: col, Not: not}
		for {
			v, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			lit, ok := v.(*Literal)
			if !ok {
				return nil, p.errorf("IN list takes literals only")
			}
			in.Values = append(in.Values, lit)
			if p.accept(tokOp, ")") {
				break
			}
			if !p.accept(tokOp, ",") {
				return nil, p.errorf("expected , or )")
			}
		}
		return in, nil
	case p.accept(tokKeyword, "BETWEEN"):
		lo, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if !p.accept(tokKeyword, "AND") {
			return nil, p.errorf("expected AND in BETWEEN")
		}
		hi, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		var e Expr = &And{&Comparison{">=", left, lo}, &Comparison{"<=", left, hi}}
		if not {
			e = &Not{e}
		}
		return e, nil
	case not:
		return nil, p.errorf("expected IN or BETWEEN after NOT")
	case p.accept(tokKeyword, "IS"):
		isNot := p.accept(tokKeyword, "NOT")
		if !p.accept(tokKeyword, "NULL") {
			return nil, p.errorf("expected NULL after IS")
		}
		col, ok := left.(*Column)
		if !ok {
			return nil, p.errorf("IS NULL needs a column")
		}
		return &IsNull{Col: col, Not: isNot}, nil
	}
	t := p.peek()
	if t.kind != tokOp || !isComparisonOp(t.text) {
		return nil, p.errorf("expected a comparison operator, found %q", t.text)
	}
	p.next()
	right, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	_, lc := left.(*Column)
	_, rc := right.(*Column)
	if lc == rc {
		return nil, p.errorf("a comparison needs one column and one literal")
	}
	return &Comparison{Op: t.text, Left: left, Right: right}, nil
}

func (p *predParser) parseOperand() (Expr, error) {
	t := p.next()
	switch t.kind {
	case tokIdent:
		return &Column{Name: t.text}, nil
	case tokString:
		return &Literal{Text: t.text, Kind: "string"}, nil
	case tokNumber:
		if _, err := strconv.ParseFloat(t.text, 64); err != nil {
			p.i--
			return nil, p.errorf("invalid number %q", t.text)
		}
		return &Literal{Text: t.text, Kind: "number"}, nil
	case tokKeyword:
		switch t.text {
		case "TRUE", "FALSE":
			return &Literal{Text: strings.ToLower(t.text), Kind: "bool"}, nil
		case "NULL":
			return &Literal{Kind: "null"}, nil
		case "DATE", "TIMESTAMP":
			s := p.next()
			if s.kind != tokString {
				p.i--
				return nil, p.errorf("expected a quoted value after %s", t.text)
			}
			return &Literal{Text: s.text, Kind: strings.ToLower(t.text)}, nil
		}
	}
	p.i--
	return nil, p.errorf("expected a column or a value, found %q", t.text)
}

func quoteIdent(s string) string {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			return "`" + s + "`"
		}
	}
	if keywords[strings.ToUpper(s)] {
		return "`" + s + "`"
	}
	return s
}

func isComparisonOp(op string) bool {
	switch op {
	case "=", "!=", "<", "<=", ">", ">=":
		return true
	}
	return false
}
