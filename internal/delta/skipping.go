package delta

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Data skipping: deciding, from a file's add action alone (its partition values and per-file
// statistics), that the file holds no row satisfying a predicate, so that a reader need not open
// it. This file does no I/O.
//
// Semantics. A predicate is a filter with SQL's three-valued logic: a row qualifies only when the
// predicate is TRUE. FileFilter.MayMatch is false only when no row of the file can qualify; every
// doubt (missing statistics, a column the table lacks, a literal that does not convert to the
// column's type, an expression it does not understand) means "may match". Comparisons follow
// DuckDB's rules, since the engine's queries are DuckDB's:
//
//   - a literal is converted to the column's type. Literal kinds (Literal.Kind) are those of
//     ParsePredicate plus "double" (an approximate number, such as DuckDB's DOUBLE constants: the
//     comparison is then done in float64, as DuckDB casts the column to DOUBLE). "number" literals
//     are exact: an integer column compared with 2.5 is compared exactly. A "string" literal is
//     parsed strictly as the column's type ('5' for an integer, '2024-01-01' for a date); string
//     columns take only "string" literals (DuckDB would cast the column to the literal's type). A
//     zone-less timestamp literal is in UTC (the engine's session time zone).
//   - floating-point NaN is greater than every number and equal to itself. Writers (Strata's,
//     Parquet's) leave NaN out of min/max statistics, so a file's maxValue does not bound its NaN
//     values: comparisons that NaN satisfies (>, >=, !=, = NaN) are never decided by a maximum.
//   - strings compare bytewise (UTF-8 code point order). minValues are prefixes (valid lower
//     bounds); a maxValue may be a truncated prefix too, so any string starting with it may be
//     present.
//   - timestamps: MaxValue already widens millisecond-truncated maxima (see Stats.MaxValue).
//   - wide bounds (tightBounds=false, after deletion vectors) are still bounds; null counts are
//     used only as "none" (0) and "all" (= numRecords), the two values the protocol keeps
//     meaningful with wide bounds.
//
// NOT is pushed down to the leaves first (NOT (a < 1) is a >= 1, De Morgan for AND/OR, NOT IN,
// IS NOT NULL), which is exact under three-valued logic, so every leaf is evaluated in a positive
// position.

// FileFilter decides which files of a table may hold rows matching a predicate. It is immutable
// and safe for concurrent use.
type FileFilter struct {
	pred     Expr // in negation normal form
	schema   *StructType
	partCols []string
	isPart   map[string]bool // lower-cased partition column names
	mode     string
	// usesParts and usesStats say whether pred references partition and data columns.
	usesParts, usesStats bool
}

// NewFileFilter prepares pred (nil: every file matches) for the files of a table with the given
// logical schema, partition columns and column mapping mode (Snapshot.ColumnMappingMode).
func NewFileFilter(schema *StructType, partitionColumns []string, columnMappingMode string, pred Expr) *FileFilter {
	ff := &FileFilter{schema: schema, partCols: partitionColumns, isPart: map[string]bool{}, mode: columnMappingMode}
	for _, p := range partitionColumns {
		ff.isPart[strings.ToLower(p)] = true
	}
	if pred != nil {
		ff.pred = negationNormalForm(pred, false)
		for _, c := range ff.pred.Columns() {
			if schema.Field(c) == nil {
				continue
			}
			if ff.isPart[strings.ToLower(c)] {
				ff.usesParts = true
			} else {
				ff.usesStats = true
			}
		}
	}
	return ff
}

// NewSnapshotFileFilter is NewFileFilter for the files of snap.
func NewSnapshotFileFilter(snap *Snapshot, pred Expr) *FileFilter {
	return NewFileFilter(snap.Schema(), snap.PartitionColumns(), snap.ColumnMappingMode(), pred)
}

// Predicate returns the predicate in negation normal form (nil if none).
func (ff *FileFilter) Predicate() Expr { return ff.pred }

// Uses reports whether the predicate references partition columns and data (non-partition)
// columns of the table: what pruning can use.
func (ff *FileFilter) Uses() (partitions, stats bool) { return ff.usesParts, ff.usesStats }

// MayMatch reports whether file f may hold a row for which the predicate is TRUE; false means
// provably none. Partition values that do not parse are an error (wrapping ErrCorrupt);
// statistics that do not parse are treated as absent.
func (ff *FileFilter) MayMatch(f *Add) (bool, error) {
	if ff.pred == nil {
		return true, nil
	}
	fc := &fileCtx{ff: ff, f: f}
	if len(ff.partCols) > 0 {
		vals, err := TypedPartitionValues(ff.schema, ff.partCols, ff.mode, f.PartitionValues)
		if err != nil {
			return false, err
		}
		fc.parts = vals
	}
	if ff.usesStats {
		if st := fc.stats(); st != nil && st.NumRecords == 0 {
			return false, nil // an empty file
		}
	}
	return fc.may(ff.pred), nil
}

// negationNormalForm returns e with NOT pushed to the leaves (neg: e is under an odd number of
// NOTs). Expressions it does not know are kept under their NOT.
func negationNormalForm(e Expr, neg bool) Expr {
	switch x := e.(type) {
	case *Not:
		return negationNormalForm(x.Inner, !neg)
	case *And:
		l, r := negationNormalForm(x.Left, neg), negationNormalForm(x.Right, neg)
		if neg {
			return &Or{l, r}
		}
		return &And{l, r}
	case *Or:
		l, r := negationNormalForm(x.Left, neg), negationNormalForm(x.Right, neg)
		if neg {
			return &And{l, r}
		}
		return &Or{l, r}
	case *Comparison:
		if !neg {
			return x
		}
		return &Comparison{Op: negateOp(x.Op), Left: x.Left, Right: x.Right}
	case *InList:
		if !neg {
			return x
		}
		return &InList{Col: x.Col, Values: x.Values, Not: !x.Not}
	case *IsNull:
		if !neg {
			return x
		}
		return &IsNull{Col: x.Col, Not: !x.Not}
	case *Literal:
		if neg && x.Kind == "bool" {
			return &Literal{Kind: "bool", Text: strconv.FormatBool(!strings.EqualFold(x.Text, "true"))}
		}
		if neg && x.Kind != "null" {
			return &Not{x}
		}
		return x
	}
	if neg {
		return &Not{e}
	}
	return e
}

// negateOp gives the operator of NOT (a op b), exact under three-valued logic.
func negateOp(op string) string {
	switch op {
	case "=":
		return "!="
	case "!=":
		return "="
	case "<":
		return ">="
	case "<=":
		return ">"
	case ">":
		return "<="
	case ">=":
		return "<"
	}
	return op
}

// fileCtx is the evaluation of one file: its partition values and lazily parsed statistics.
type fileCtx struct {
	ff          *FileFilter
	f           *Add
	parts       map[string]scalar.Scalar
	st          *Stats
	statsParsed bool
}

func (fc *fileCtx) stats() *Stats {
	if !fc.statsParsed {
		fc.statsParsed = true
		fc.st, _ = ParseStats(fc.f.Stats) // unparseable statistics are no statistics
	}
	return fc.st
}

// may reports whether some row of the file may make e TRUE (e in negation normal form).
func (fc *fileCtx) may(e Expr) bool {
	switch x := e.(type) {
	case *And:
		return fc.may(x.Left) && fc.may(x.Right)
	case *Or:
		return fc.may(x.Left) || fc.may(x.Right)
	case *Literal:
		switch x.Kind {
		case "bool":
			return strings.EqualFold(x.Text, "true")
		case "null":
			return false
		}
		return true
	case *IsNull:
		r := fc.column(x.Col.Name)
		if r == nil {
			return true
		}
		if x.Not {
			return !r.allNull
		}
		return !r.noNull
	case *Comparison:
		col, lit, op := x.Left, x.Right, x.Op
		if _, ok := col.(*Column); !ok {
			col, lit, op = x.Right, x.Left, flipOp(x.Op)
		}
		c, ok1 := col.(*Column)
		l, ok2 := lit.(*Literal)
		if !ok1 || !ok2 {
			return true
		}
		if l.Kind == "null" {
			return false // a comparison with NULL is never TRUE
		}
		return fc.compareMay(c.Name, op, l)
	case *InList:
		if x.Not {
			for _, v := range x.Values {
				if v.Kind == "null" {
					return false // x NOT IN (..., NULL) is never TRUE
				}
			}
			for _, v := range x.Values {
				if !fc.compareMay(x.Col.Name, "!=", v) {
					return false
				}
			}
			if r := fc.column(x.Col.Name); r != nil && r.allNull {
				return false
			}
			return true
		}
		for _, v := range x.Values {
			if v.Kind != "null" && fc.compareMay(x.Col.Name, "=", v) {
				return true
			}
		}
		return false
	}
	return true
}

// compareMay reports whether some row may satisfy `column op literal`.
func (fc *fileCtx) compareMay(name, op string, l *Literal) bool {
	r := fc.column(name)
	if r == nil {
		return true
	}
	if r.allNull {
		return false
	}
	cands, dom, ok := literalValues(l, r.typ)
	if !ok {
		return true
	}
	b := r.bounds(dom)
	for _, c := range cands {
		if b.may(op, c) {
			return true
		}
	}
	return false
}

// colInfo is what a file says about one column: its bounds as scalars of the column's Arrow type
// (nil when unknown) and null facts.
type colInfo struct {
	typ      DataType
	lo, hi   scalar.Scalar
	exact    bool // lo and hi are the exact single value (a partition value)
	strStats bool // string statistics: lo and hi may be truncated prefixes
	fltStats bool // float statistics: NaN values are not bounded by hi
	allNull  bool // every row is null in this column
	noNull   bool // no row is null in this column
}

// column summarises a column of the table for the file, or returns nil if the table has no such
// column or it is not a primitive column.
func (fc *fileCtx) column(name string) *colInfo {
	f := fc.ff.schema.Field(name)
	if f == nil {
		return nil
	}
	switch f.Type.(type) {
	case *PrimitiveType, *DecimalType:
	default:
		return nil
	}
	ci := &colInfo{typ: f.Type}
	if fc.ff.isPart[strings.ToLower(f.Name)] {
		v := fc.parts[strings.ToLower(f.Name)]
		if v == nil || !v.IsValid() {
			ci.allNull = true
			return ci
		}
		ci.lo, ci.hi, ci.exact, ci.noNull = v, v, true, true
		return ci
	}
	st := fc.stats()
	if st == nil {
		return ci
	}
	phys := f.Name
	if fc.ff.mode != "none" && fc.ff.mode != "" {
		phys = f.PhysicalName()
	}
	path := []string{phys}
	if n, ok := st.NullCountOf(path); ok {
		ci.noNull = n == 0
		ci.allNull = st.NumRecords >= 0 && n == st.NumRecords
	}
	if lo, ok := st.MinValue(path, f.Type); ok {
		ci.lo = lo
	}
	if hi, ok := st.MaxValue(path, f.Type); ok {
		ci.hi = hi
	}
	ci.strStats = f.Type == TypeString
	ci.fltStats = f.Type == TypeFloat || f.Type == TypeDouble
	return ci
}

// --- values ---

// domain is how a column's values and a literal are compared.
type domain int8

const (
	domRat   domain = iota + 1 // exact numbers (integers, decimals)
	domFloat                   // float64, NaN greatest
	domInt                     // int64: dates (days), timestamps (µs), booleans
	domStr                     // strings, bytewise
)

// value is a comparable value of one domain.
type value struct {
	r *big.Rat
	f float64
	i int64
	s string
}

func compareIn(dom domain, a, b value) int {
	switch dom {
	case domRat:
		return a.r.Cmp(b.r)
	case domFloat:
		an, bn := math.IsNaN(a.f), math.IsNaN(b.f)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		case a.f < b.f:
			return -1
		case a.f > b.f:
			return 1
		}
		return 0
	case domInt:
		return cmpOrdered(a.i, b.i)
	case domStr:
		return strings.Compare(a.s, b.s)
	}
	return 0
}

// literalValues converts a literal to the values it may stand for when compared with a column of
// type t (several when the comparison's precision is uncertain), and the domain of comparison.
func literalValues(l *Literal, t DataType) ([]value, domain, bool) {
	text := l.Text
	if dt, ok := t.(*DecimalType); ok {
		switch l.Kind {
		case "number":
			r, ok := new(big.Rat).SetString(strings.TrimSpace(text))
			return []value{{r: r}}, domRat, ok
		case "string":
			n, err := ParseDecimal(text, int32(dt.Precision), int32(dt.Scale))
			if err != nil {
				return nil, 0, false
			}
			return []value{{r: decimalRat(n.BigInt(), int32(dt.Scale))}}, domRat, true
		case "double":
			f, err := parseJavaFloat(text, 64)
			return []value{{f: f}}, domFloat, err == nil
		}
		return nil, 0, false
	}
	switch t {
	case TypeByte, TypeShort, TypeInteger, TypeLong:
		switch l.Kind {
		case "number":
			r, ok := new(big.Rat).SetString(strings.TrimSpace(text))
			return []value{{r: r}}, domRat, ok
		case "string":
			i, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
			return []value{{r: new(big.Rat).SetInt64(i)}}, domRat, err == nil
		case "double":
			f, err := parseJavaFloat(text, 64)
			return []value{{f: f}}, domFloat, err == nil
		}
	case TypeFloat, TypeDouble:
		switch l.Kind {
		case "number", "string", "double":
			f, err := parseJavaFloat(text, 64)
			if err != nil {
				return nil, 0, false
			}
			vals := []value{{f: f}}
			if f32 := float64(float32(f)); t == TypeFloat && f32 != f && !math.IsNaN(f) {
				// DuckDB may compare in FLOAT (the literal rounded) or in DOUBLE: allow both.
				vals = append(vals, value{f: f32})
			}
			return vals, domFloat, true
		}
	case TypeString:
		if l.Kind == "string" {
			return []value{{s: text}}, domStr, true
		}
	case TypeDate:
		if l.Kind == "string" || l.Kind == "date" {
			d, err := ParseDate(text)
			return []value{{i: int64(d)}}, domInt, err == nil
		}
	case TypeTimestamp, TypeTimestampNTZ:
		switch l.Kind {
		case "string", "timestamp":
			if subMicros(text) {
				return nil, 0, false
			}
			us, err := ParseTimestampMicros(text, t == TypeTimestampNTZ)
			return []value{{i: us}}, domInt, err == nil
		case "date":
			d, err := ParseDate(text)
			return []value{{i: int64(d) * 86_400_000_000}}, domInt, err == nil
		}
	case TypeBoolean:
		if l.Kind == "bool" || l.Kind == "string" {
			switch strings.ToLower(strings.TrimSpace(text)) {
			case "true":
				return []value{{i: 1}}, domInt, true
			case "false":
				return []value{{i: 0}}, domInt, true
			}
		}
	}
	return nil, 0, false
}

// subMicros reports whether a timestamp text has more than six fractional digits (which DuckDB
// and ParseTimestampMicros might round differently).
func subMicros(s string) bool {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return false
	}
	n := 0
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			break
		}
		n++
	}
	return n > 6
}

func decimalRat(unscaled *big.Int, scale int32) *big.Rat {
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	return new(big.Rat).SetFrac(unscaled, den)
}

// scalarValue converts a bound (a scalar of the column's Arrow type) to dom.
func scalarValue(s scalar.Scalar, dom domain) (value, bool) {
	if s == nil || !s.IsValid() {
		return value{}, false
	}
	var i int64
	isInt := true
	switch x := s.(type) {
	case *scalar.Int8:
		i = int64(x.Value)
	case *scalar.Int16:
		i = int64(x.Value)
	case *scalar.Int32:
		i = int64(x.Value)
	case *scalar.Int64:
		i = x.Value
	case *scalar.Date32:
		i = int64(x.Value)
	case *scalar.Timestamp:
		i = int64(x.Value)
	case *scalar.Boolean:
		i = boolInt(x.Value)
	default:
		isInt = false
	}
	switch dom {
	case domInt:
		return value{i: i}, isInt
	case domRat:
		if isInt {
			return value{r: new(big.Rat).SetInt64(i)}, true
		}
		if d, ok := s.(*scalar.Decimal128); ok {
			return value{r: decimalRat(d.Value.BigInt(), d.Type.(*arrow.Decimal128Type).Scale)}, true
		}
	case domFloat:
		switch x := s.(type) {
		case *scalar.Float32:
			return value{f: float64(x.Value)}, true
		case *scalar.Float64:
			return value{f: x.Value}, true
		case *scalar.Decimal128:
			r := decimalRat(x.Value.BigInt(), x.Type.(*arrow.Decimal128Type).Scale)
			f, _ := r.Float64() // nearest: rounding is monotonic, so bounds stay bounds
			return value{f: f}, true
		}
		if isInt {
			return value{f: float64(i)}, true // monotonic too
		}
	case domStr:
		if x, ok := s.(*scalar.String); ok {
			return value{s: x.String()}, true
		}
	}
	return value{}, false
}

// rangeBounds are a column's bounds in one domain.
type rangeBounds struct {
	dom        domain
	lo, hi     *value
	exact      bool
	hiPrefix   bool // a value may be any string starting with hi
	nanAboveHi bool // NaN values may exist although hi is not NaN
}

func (ci *colInfo) bounds(dom domain) rangeBounds {
	b := rangeBounds{dom: dom, exact: ci.exact}
	if v, ok := scalarValue(ci.lo, dom); ok {
		b.lo = &v
	}
	if v, ok := scalarValue(ci.hi, dom); ok {
		b.hi = &v
	}
	if !ci.exact {
		b.hiPrefix = ci.strStats && dom == domStr
		b.nanAboveHi = ci.fltStats
	}
	switch {
	case b.lo == nil || b.hi == nil:
		b.exact = false
	case !ci.strStats && !ci.fltStats && compareIn(dom, *b.lo, *b.hi) == 0:
		b.exact = true // every non-null value equals the bound
	}
	return b
}

// may reports whether some value v within the bounds may satisfy `v op c`.
func (b rangeBounds) may(op string, c value) bool {
	cmp := func(a, x value) int { return compareIn(b.dom, a, x) }
	cNaN := b.dom == domFloat && math.IsNaN(c.f)
	// someLE / someLT: a value <= c / < c may exist (from the lower bound).
	someLE := b.lo == nil || cmp(*b.lo, c) <= 0
	someLT := b.lo == nil || cmp(*b.lo, c) < 0
	// prefixUp: with a truncated string maximum, values starting with hi may exceed hi.
	prefixUp := b.hiPrefix && b.hi != nil && strings.HasPrefix(c.s, b.hi.s)
	switch op {
	case "=":
		if !someLE {
			return false
		}
		if cNaN && b.nanAboveHi {
			return true
		}
		return b.hi == nil || cmp(*b.hi, c) >= 0 || prefixUp
	case "!=":
		if b.exact {
			return cmp(*b.lo, c) != 0
		}
		return true
	case "<":
		return someLT
	case "<=":
		return someLE
	case ">":
		if b.nanAboveHi && !cNaN {
			return true
		}
		return b.hi == nil || cmp(*b.hi, c) > 0 || prefixUp
	case ">=":
		if b.nanAboveHi {
			return true
		}
		return b.hi == nil || cmp(*b.hi, c) >= 0 || prefixUp
	}
	return true
}
