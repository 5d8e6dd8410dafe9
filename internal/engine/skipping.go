package engine

// Data skipping: from DuckDB's parse tree of a query, the part of a SELECT's WHERE clause that
// bounds one table reference's rows (filterFor), evaluated against each file's partition values
// and statistics by the kernel (delta.FileFilter) before DuckDB opens any file (mayMatch).
//
// What is pushed down, and why it is safe. A conjunct of the WHERE clause is used only when the
// reference's rows reach the WHERE clause unchanged except for being joined: the reference is the
// SELECT's only relation, or sits under INNER / CROSS / NATURAL joins (on either side), or on the
// preserved side of an outer, SEMI, ANTI or ASOF join. On the nullable side of an outer join only
// null-rejecting conjuncts are used (those that a row of NULLs cannot satisfy: comparisons, IN,
// IS NOT NULL, and AND/OR of them), because there a pruned row would reappear as NULLs that an
// IS NULL filter keeps. Nothing is pushed under POSITIONAL joins (pruning shifts positions), on
// the right of SEMI, ANTI and ASOF joins, into PIVOTs, subqueries of the FROM clause, or when a
// sample (TABLESAMPLE, USING SAMPLE) or column aliases (t(a, b)) come between the table and the
// WHERE clause. A conjunct is used when it compares one column of the reference (unqualified,
// or qualified by its alias, its table name or domain.table) with constants: = != < <= > >=,
// IS [NOT] DISTINCT FROM, BETWEEN, [NOT] IN lists, IS [NOT] NULL, NOT, and AND/OR of those;
// inside an AND, parts that are not understood are dropped (the rest still bounds the rows),
// inside an OR they void the whole OR. Constants are typed literals (numbers exact or "double",
// strings, DATE/TIMESTAMP casts); the kernel converts them to the column's type, DuckDB's way.
// Unqualified names that are not columns of the table (other relations' columns, SELECT aliases,
// outer references) are ignored by the kernel: in DuckDB a table's own column takes precedence
// over a SELECT alias, and an unqualified column of two joined tables is an ambiguity error.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/dustin/go-humanize"

	"github.com/stratalake/strata/internal/delta"
)

// filterFor extracts, from a SELECT node of DuckDB's parse tree (json_serialize_sql), the
// conjuncts of its WHERE clause that bound ref's rows and that file pruning understands. ref must
// be one of the relations of the node's FROM clause (found by its position); nil means no
// pruning.
func filterFor(node any, ref *tableRef) delta.Expr {
	sel, ok := node.(map[string]any)
	if !ok || sel["type"] != "SELECT_NODE" || len(ref.Edits) == 0 || sel["sample"] != nil {
		return nil
	}
	found, nullable := locateRef(sel["from_table"], ref.Edits[0].Start, false)
	if found != refUsable {
		return nil
	}
	var out delta.Expr
	for _, c := range conjuncts(sel["where_clause"]) {
		e, ok := convertPredicate(c, ref, false)
		if !ok || (nullable && !nullRejecting(e)) {
			continue
		}
		if out == nil {
			out = e
		} else {
			out = &delta.And{Left: out, Right: e}
		}
	}
	return out
}

// refPlace says where a reference is in a FROM clause.
type refPlace int

const (
	refAbsent  refPlace = iota // not a relation of this FROM clause
	refUsable                  // its rows reach the WHERE clause (possibly null-extended)
	refBlocked                 // something between it and the WHERE clause forbids pruning
)

// locateRef finds the reference starting at byte offset pos in a FROM clause (a tree of JOIN
// nodes), and whether it is on the nullable side of an outer join.
func locateRef(node any, pos int, nullable bool) (refPlace, bool) {
	n, ok := node.(map[string]any)
	if !ok {
		return refAbsent, false
	}
	switch n["type"] {
	case "BASE_TABLE", "TABLE_FUNCTION":
		at := location(n)
		if fn, ok := n["function"].(map[string]any); ok && n["type"] == "TABLE_FUNCTION" {
			at = location(fn)
		}
		if at != pos {
			return refAbsent, false
		}
		if n["sample"] != nil {
			return refBlocked, false
		}
		if aliases, _ := n["column_name_alias"].([]any); len(aliases) > 0 {
			return refBlocked, false
		}
		return refUsable, nullable
	case "JOIN":
		joinType, _ := n["join_type"].(string)
		refType, _ := n["ref_type"].(string)
		leftNull, rightNull := nullable, nullable
		leftOK, rightOK := true, true
		switch joinType {
		case "INNER":
		case "LEFT":
			rightNull = true
		case "RIGHT":
			leftNull = true
		case "OUTER", "FULL":
			leftNull, rightNull = true, true
		case "SEMI", "ANTI":
			rightOK = false // its columns are not visible: unqualified names are the left's
		default:
			leftOK, rightOK = false, false
		}
		switch refType {
		case "REGULAR", "NATURAL", "CROSS", "":
		case "ASOF":
			rightOK = false // which row matches depends on the other rows
		default: // POSITIONAL, DEPENDENT and anything newer
			leftOK, rightOK = false, false
		}
		for _, side := range []struct {
			key      string
			ok, null bool
		}{{"left", leftOK, leftNull}, {"right", rightOK, rightNull}} {
			place, null := locateRef(n[side.key], pos, side.null)
			if place == refAbsent {
				continue
			}
			if !side.ok {
				return refBlocked, false
			}
			return place, null
		}
	}
	return refAbsent, false
}

// location is a node's query_location (a byte offset), or -1.
func location(n map[string]any) int {
	switch v := n["query_location"].(type) {
	case float64:
		if v >= 0 && v < 1<<53 {
			return int(v)
		}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return int(i)
		}
	}
	return -1
}

// conjuncts splits a WHERE clause at its top-level ANDs.
func conjuncts(node any) []map[string]any {
	n, ok := node.(map[string]any)
	if !ok {
		return nil
	}
	if n["type"] == "CONJUNCTION_AND" {
		var out []map[string]any
		children, _ := n["children"].([]any)
		for _, c := range children {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []map[string]any{n}
}

// comparisonOps maps DuckDB's comparison types to predicate operators.
var comparisonOps = map[string]string{
	"COMPARE_EQUAL": "=", "COMPARE_NOTEQUAL": "!=", "COMPARE_LESSTHAN": "<", "COMPARE_GREATERTHAN": ">",
	"COMPARE_LESSTHANOREQUALTO": "<=", "COMPARE_GREATERTHANOREQUALTO": ">=",
}

// negatedOps gives NOT (a op b), exact under three-valued logic.
var negatedOps = map[string]string{"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}

// flippedOps gives the operator with its operands swapped.
var flippedOps = map[string]string{"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}

// convertPredicate converts a parse-tree expression over ref's columns and constants into a
// predicate that every row satisfying the expression (its negation when neg) satisfies. ok is
// false when there is no such predicate short of TRUE.
func convertPredicate(node any, ref *tableRef, neg bool) (delta.Expr, bool) {
	n, ok := node.(map[string]any)
	if !ok {
		return nil, false
	}
	typ, _ := n["type"].(string)
	children, _ := n["children"].([]any)
	switch typ {
	case "CONJUNCTION_AND", "CONJUNCTION_OR":
		// AND, or a negated OR, keeps what it understands; OR, or a negated AND, needs all.
		lenient := (typ == "CONJUNCTION_AND") != neg
		var out delta.Expr
		for _, c := range children {
			e, ok := convertPredicate(c, ref, neg)
			if !ok {
				if lenient {
					continue
				}
				return nil, false
			}
			switch {
			case out == nil:
				out = e
			case lenient:
				out = &delta.And{Left: out, Right: e}
			default:
				out = &delta.Or{Left: out, Right: e}
			}
		}
		return out, out != nil
	case "OPERATOR_NOT":
		if len(children) != 1 {
			return nil, false
		}
		return convertPredicate(children[0], ref, !neg)
	case "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL":
		if len(children) != 1 {
			return nil, false
		}
		col, ok := columnOf(children[0], ref)
		if !ok {
			return nil, false
		}
		return &delta.IsNull{Col: col, Not: (typ == "OPERATOR_IS_NOT_NULL") != neg}, true
	case "COMPARE_IN", "COMPARE_NOT_IN":
		if len(children) < 2 {
			return nil, false
		}
		col, ok := columnOf(children[0], ref)
		if !ok {
			return nil, false
		}
		in := &delta.InList{Col: col, Not: (typ == "COMPARE_NOT_IN") != neg}
		for _, c := range children[1:] {
			lit, ok := literalOf(c)
			if !ok {
				return nil, false
			}
			in.Values = append(in.Values, lit)
		}
		return in, true
	case "COMPARE_BETWEEN":
		col, ok := columnOf(n["input"], ref)
		lo, ok1 := literalOf(n["lower"])
		hi, ok2 := literalOf(n["upper"])
		if !ok || !ok1 || !ok2 {
			return nil, false
		}
		if neg {
			return &delta.Or{Left: &delta.Comparison{Op: "<", Left: col, Right: lo}, Right: &delta.Comparison{Op: ">", Left: col, Right: hi}}, true
		}
		return &delta.And{Left: &delta.Comparison{Op: ">=", Left: col, Right: lo}, Right: &delta.Comparison{Op: "<=", Left: col, Right: hi}}, true
	case "COMPARE_DISTINCT_FROM", "COMPARE_NOT_DISTINCT_FROM":
		col, lit, _, ok := columnAndLiteral(n, ref)
		if !ok {
			return nil, false
		}
		distinct := (typ == "COMPARE_DISTINCT_FROM") != neg
		if lit.Kind == "null" {
			return &delta.IsNull{Col: col, Not: distinct}, true
		}
		if !distinct {
			return &delta.Comparison{Op: "=", Left: col, Right: lit}, true
		}
		return &delta.Or{Left: &delta.Comparison{Op: "!=", Left: col, Right: lit}, Right: &delta.IsNull{Col: col}}, true
	}
	if op, isCmp := comparisonOps[typ]; isCmp {
		col, lit, swapped, ok := columnAndLiteral(n, ref)
		if !ok {
			return nil, false
		}
		if swapped {
			op = flippedOps[op]
		}
		if neg {
			op = negatedOps[op]
		}
		return &delta.Comparison{Op: op, Left: col, Right: lit}, true
	}
	return nil, false
}

// columnAndLiteral reads a binary node (left, right) holding one column of ref and one constant;
// swapped is true when the constant is on the left.
func columnAndLiteral(n map[string]any, ref *tableRef) (*delta.Column, *delta.Literal, bool, bool) {
	if col, ok := columnOf(n["left"], ref); ok {
		lit, ok := literalOf(n["right"])
		return col, lit, false, ok
	}
	if col, ok := columnOf(n["right"], ref); ok {
		lit, ok := literalOf(n["left"])
		return col, lit, true, ok
	}
	return nil, nil, false, false
}

// columnOf reads a column reference that may name a column of ref: unqualified, or qualified by
// ref's alias (by its table name, or delta_scan, when it has none), or domain.table.column for a
// project table without an alias. Whether the table has the column is for the kernel to say.
func columnOf(node any, ref *tableRef) (*delta.Column, bool) {
	n, ok := node.(map[string]any)
	if !ok || n["class"] != "COLUMN_REF" {
		return nil, false
	}
	raw, _ := n["column_names"].([]any)
	names := make([]string, len(raw))
	for i, r := range raw {
		s, ok := r.(string)
		if !ok {
			return nil, false
		}
		names[i] = s
	}
	qualifier := ref.Alias
	if !ref.HasAlias {
		qualifier = ref.Table
		if qualifier == "" {
			qualifier = "delta_scan"
		}
	}
	switch len(names) {
	case 1:
		return &delta.Column{Name: names[0]}, true
	case 2:
		if strings.EqualFold(names[0], qualifier) {
			return &delta.Column{Name: names[1]}, true
		}
	case 3:
		if !ref.HasAlias && ref.Domain != "" && strings.EqualFold(names[0], ref.Domain) && strings.EqualFold(names[1], ref.Table) {
			return &delta.Column{Name: names[2]}, true
		}
	}
	return nil, false // a struct field, or another relation's column
}

// literalOf reads a constant, possibly under a CAST, as a typed literal: "string", "bool",
// "null", "number" (exact: integers, decimals), "double" (approximate), "date", and "timestamp"
// (in UTC: TIMESTAMP WITH TIME ZONE constants are converted, and zone-less ones are in the
// session time zone, UTC).
func literalOf(node any) (*delta.Literal, bool) {
	n, ok := node.(map[string]any)
	if !ok {
		return nil, false
	}
	switch n["class"] {
	case "CONSTANT":
		v, _ := n["value"].(map[string]any)
		return constantLiteral(v)
	case "CAST":
		if try, _ := n["try_cast"].(bool); try {
			return nil, false
		}
		child, _ := n["child"].(map[string]any)
		if child == nil || child["class"] != "CONSTANT" {
			return nil, false
		}
		v, _ := child["value"].(map[string]any)
		lit, ok := constantLiteral(v)
		if !ok {
			return nil, false
		}
		ct, _ := n["cast_type"].(map[string]any)
		id, _ := ct["id"].(string)
		return castLiteral(lit, id)
	}
	return nil, false
}

// constantLiteral reads a constant's value ({"type": {"id": ...}, "is_null": ..., "value": ...}).
func constantLiteral(v map[string]any) (*delta.Literal, bool) {
	if v == nil {
		return nil, false
	}
	if isNull, _ := v["is_null"].(bool); isNull {
		return &delta.Literal{Kind: "null"}, true
	}
	typ, _ := v["type"].(map[string]any)
	id, _ := typ["id"].(string)
	val := v["value"]
	switch id {
	case "VARCHAR":
		s, ok := val.(string)
		return &delta.Literal{Kind: "string", Text: s}, ok
	case "BOOLEAN":
		b, ok := val.(bool)
		return &delta.Literal{Kind: "bool", Text: strconv.FormatBool(b)}, ok
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT":
		i, ok := exactInteger(val)
		if !ok {
			return nil, false
		}
		return &delta.Literal{Kind: "number", Text: i.String()}, true
	case "DECIMAL":
		i, ok := exactInteger(val)
		info, _ := typ["type_info"].(map[string]any)
		scale, ok2 := exactInteger(info["scale"])
		if !ok || !ok2 || !scale.IsInt64() || scale.Int64() < 0 || scale.Int64() > 38 {
			return nil, false
		}
		r := new(big.Rat).SetFrac(i, new(big.Int).Exp(big.NewInt(10), scale, nil))
		return &delta.Literal{Kind: "number", Text: r.FloatString(int(scale.Int64()))}, true
	case "DOUBLE", "FLOAT":
		f, ok := jsonFloat(val)
		if !ok {
			return nil, false
		}
		if id == "FLOAT" {
			f = float64(float32(f))
		}
		return doubleLiteral(f), true
	}
	return nil, false
}

// castLiteral applies CAST(lit AS id) where the result is certain; ok is false otherwise (DuckDB
// rounds some casts, and parses formats the kernel does not).
func castLiteral(lit *delta.Literal, id string) (*delta.Literal, bool) {
	if lit.Kind == "null" {
		return lit, true
	}
	switch id {
	case "VARCHAR":
		return lit, lit.Kind == "string"
	case "DATE":
		if lit.Kind != "string" {
			return nil, false
		}
		if _, err := delta.ParseDate(lit.Text); err != nil {
			return nil, false
		}
		return &delta.Literal{Kind: "date", Text: strings.TrimSpace(lit.Text)}, true
	case "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_TZ", "TIMESTAMPTZ":
		if lit.Kind != "string" {
			return nil, false
		}
		text := strings.TrimSpace(lit.Text)
		if len(text) == 16 && text[13] == ':' { // "yyyy-mm-dd hh:mm"
			text += ":00"
		}
		if dot := strings.IndexByte(text, '.'); dot >= 0 {
			digits := len(text) - dot - 1 - len(strings.TrimLeft(text[dot+1:], "0123456789"))
			if digits > 6 {
				return nil, false // below microseconds: DuckDB may round differently
			}
		}
		us, err := delta.ParseTimestampMicros(text, id == "TIMESTAMP")
		if err != nil {
			return nil, false
		}
		return &delta.Literal{Kind: "timestamp", Text: time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.999999")}, true
	case "BOOLEAN":
		switch {
		case lit.Kind == "bool":
			return lit, true
		case lit.Kind == "string":
			switch strings.ToLower(strings.TrimSpace(lit.Text)) {
			case "t", "true":
				return &delta.Literal{Kind: "bool", Text: "true"}, true
			case "f", "false":
				return &delta.Literal{Kind: "bool", Text: "false"}, true
			}
		}
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT":
		text := strings.TrimSpace(lit.Text)
		if lit.Kind != "string" && lit.Kind != "number" {
			return nil, false
		}
		if i, ok := new(big.Int).SetString(text, 10); ok {
			return &delta.Literal{Kind: "number", Text: i.String()}, true
		}
	case "DOUBLE", "FLOAT":
		if lit.Kind != "string" && lit.Kind != "number" && lit.Kind != "double" {
			return nil, false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(lit.Text), 64)
		if err != nil {
			return nil, false
		}
		if id == "FLOAT" {
			f = float64(float32(f))
		}
		return doubleLiteral(f), true
	case "DECIMAL":
		if lit.Kind == "number" && !strings.ContainsAny(lit.Text, ".eE") {
			return lit, true // an integer: exact at any scale that holds it (DuckDB errors otherwise)
		}
	}
	return nil, false
}

func doubleLiteral(f float64) *delta.Literal {
	text := strconv.FormatFloat(f, 'g', -1, 64)
	if math.IsNaN(f) {
		text = "NaN"
	}
	return &delta.Literal{Kind: "double", Text: text}
}

// exactInteger reads a JSON integer that the decoding kept exact (|v| < 2^53 as float64, or a
// json.Number).
func exactInteger(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) >= 1<<53 { // 2^53 may be a rounded 2^53+1
			return nil, false
		}
		return big.NewInt(int64(x)), true
	case json.Number:
		return new(big.Int).SetString(x.String(), 10)
	}
	return nil, false
}

func jsonFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string: // "nan", "inf", "-inf"
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// nullRejecting reports whether a row whose columns are all NULL cannot satisfy e (e as built by
// convertPredicate: NOT only at the leaves).
func nullRejecting(e delta.Expr) bool {
	switch x := e.(type) {
	case *delta.Comparison, *delta.InList:
		return true
	case *delta.IsNull:
		return x.Not
	case *delta.And:
		return nullRejecting(x.Left) || nullRejecting(x.Right)
	case *delta.Or:
		return nullRejecting(x.Left) && nullRejecting(x.Right)
	}
	return false
}

// filterCache keeps the kernel filter of the last (snapshot, filter) pair mayMatch saw: planScan
// asks about every file of one snapshot with one filter in turn.
var filterCache struct {
	sync.Mutex // guards the fields below
	snap       *delta.Snapshot
	filter     delta.Expr
	ff         *delta.FileFilter
}

// mayMatch reports whether file f of snap may hold rows satisfying filter (always true without a
// filter).
func mayMatch(snap *delta.Snapshot, f *delta.Add, filter delta.Expr) (bool, error) {
	if filter == nil {
		return true, nil
	}
	filterCache.Lock()
	ff := filterCache.ff
	if filterCache.snap != snap || filterCache.filter != filter {
		ff = delta.NewSnapshotFileFilter(snap, filter)
		filterCache.snap, filterCache.filter, filterCache.ff = snap, filter, ff
	}
	filterCache.Unlock()
	return ff.MayMatch(f)
}

// --- EXPLAIN ---

func init() { registerHandler(explainStatement) }

// explainStatement recognises EXPLAIN [ANALYZE] [(options)] <query>: the query's references are
// resolved (and pruned) as for the query itself, DuckDB explains the rewritten query, and the
// result starts with one row per table reference saying which files are read.
func explainStatement(e *Engine, st statement) func(context.Context) (*Result, error) {
	toks := st.Tokens
	if !headIs(st, "EXPLAIN") {
		return nil
	}
	i := 1
	if i < len(toks) && toks[i].is("ANALYZE") {
		i++
	}
	if i < len(toks) && toks[i].punct("(") {
		close, ok := matchParen(toks, i)
		if !ok {
			return nil
		}
		i = close + 1
	}
	if i >= len(toks) {
		return nil
	}
	text := st.Text[toks[i].Start:]
	innerToks, err := tokenize(text)
	if err != nil {
		return nil
	}
	inner := statement{Text: text, Tokens: innerToks, Offset: st.Offset + toks[i].Start}
	if !isQuery(inner) {
		return nil // EXPLAIN of a statement DuckDB runs goes to DuckDB as it is
	}
	prefix := st.Text[:toks[i].Start]
	return func(ctx context.Context) (*Result, error) { return e.explain(ctx, st, prefix, inner) }
}

// explainScanKey is the first column of the rows EXPLAIN adds for each table reference.
const explainScanKey = "delta_scan"

func (e *Engine) explain(ctx context.Context, st statement, prefix string, inner statement) (*Result, error) {
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rewritten, scans, err := e.bindReferences(ctx, c, inner)
	if err != nil {
		return nil, err
	}
	rr, err := c.query(ctx, prefix+rewritten)
	if err != nil {
		return nil, duckError(err)
	}
	defer rr.Release()
	schema := rr.Schema()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if first := scanReportBatch(schema, scans); first != nil {
		recs = append(recs, first)
	}
	for rr.Next() {
		rec := rr.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := rr.Err(); err != nil {
		return nil, duckError(err)
	}
	out, err := array.NewRecordReader(schema, recs)
	if err != nil {
		return nil, err
	}
	return &Result{Statement: st.Text, Records: out, Scans: scans}, nil
}

// scanReportBatch renders the scan reports as rows of DuckDB's EXPLAIN result (two text
// columns: key and value), or returns nil if the result has another shape.
func scanReportBatch(schema *arrow.Schema, scans []ScanReport) arrow.RecordBatch {
	if schema.NumFields() != 2 || len(scans) == 0 {
		return nil
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, s := range scans {
		for col, text := range []string{explainScanKey, s.Summary()} {
			switch fb := b.Field(col).(type) {
			case *array.StringBuilder:
				fb.Append(text)
			case *array.LargeStringBuilder:
				fb.Append(text)
			case *array.StringViewBuilder:
				fb.Append(text)
			default:
				return nil
			}
		}
	}
	return b.NewRecordBatch()
}

// Summary renders a scan report in one line: "sales.orders version 4: 3 of 120 files read (117
// skipped, 1.2 MiB of 50 MiB skipped) with filter (...)".
func (s ScanReport) Summary() string {
	out := fmt.Sprintf("%s version %d: %d of %d files read (%d skipped, %s of %s skipped)", s.Table, s.Version,
		s.FilesScanned, s.FilesTotal, s.FilesSkipped, humanize.IBytes(uint64(s.BytesSkipped)), humanize.IBytes(uint64(s.BytesSkipped+s.BytesScanned)))
	if s.Filter != "" {
		out += " with filter " + s.Filter
	}
	return out
}
