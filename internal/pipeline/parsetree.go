package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/engine"
)

// node is one object of DuckDB's parse tree as json_serialize_sql renders it: a query node
// (SELECT_NODE, SET_OPERATION_NODE), a table reference (BASE_TABLE, TABLE_FUNCTION, JOIN,
// SUBQUERY, EMPTY) or an expression (class COLUMN_REF, FUNCTION, CONSTANT, ...). The pipeline
// reads table references, dedup modifiers, aggregates and column lineage from it, edits it, and
// turns it back into SQL with json_deserialize_sql: every SQL text the pipeline generates from a
// user's query comes out of DuckDB's own serializer, never from string surgery.
type node = map[string]any

// duckParser parses and deparses SQL with the engine's DuckDB.
type duckParser struct {
	eng *engine.Engine
	// baseTable is a BASE_TABLE reference as this DuckDB version serializes it, used as the
	// template of the references the pipeline substitutes; subquery a FROM (SELECT ...) AS t
	// item, column a t.c reference, one the constant 1.
	baseTable, subquery, column, one node
}

func newDuckParser(ctx context.Context, eng *engine.Engine) (*duckParser, error) {
	p := &duckParser{eng: eng}
	st, err := p.parse(ctx, "SELECT * FROM strata_template")
	if err != nil {
		return nil, err
	}
	from, _ := st["from_table"].(node)
	if from == nil || from["type"] != "BASE_TABLE" {
		return nil, fmt.Errorf("pipeline: unexpected parse tree from DuckDB for a table reference")
	}
	p.baseTable = from
	st, err = p.parse(ctx, "SELECT t.c, 1 FROM (SELECT 1) AS t")
	if err != nil {
		return nil, err
	}
	sel := list(st, "select_list")
	p.column, _ = sel[0].(node)
	p.one, _ = sel[1].(node)
	p.subquery, _ = st["from_table"].(node)
	if p.column == nil || p.one == nil || p.subquery == nil || p.subquery["type"] != "SUBQUERY" {
		return nil, fmt.Errorf("pipeline: unexpected parse tree from DuckDB for a subquery")
	}
	return p, nil
}

// substituteQuery replaces a FROM item by (query) AS alias.
func (p *duckParser) substituteQuery(r *reference, query node, alias string) {
	t := clone(p.subquery)
	t["alias"] = alias
	sub, _ := t["subquery"].(node)
	sub["node"] = query
	if l, ok := r.ref["query_location"]; ok {
		t["query_location"] = l
	}
	for k := range r.ref {
		delete(r.ref, k)
	}
	for k, v := range t {
		r.ref[k] = v
	}
}

// columnRef returns the expression relation.column ("" relation: column).
func (p *duckParser) columnRef(relation, column string) node {
	c := clone(p.column)
	names := []any{column}
	if relation != "" {
		names = []any{relation, column}
	}
	c["column_names"] = names
	c["alias"] = ""
	return c
}

// constantOne returns the expression 1.
func (p *duckParser) constantOne() node { return clone(p.one) }

// ParseError is DuckDB's parser error for a query body, with the byte offset it points at
// (-1 when DuckDB gives none).
type parseError struct {
	Msg    string
	Offset int
}

func (e *parseError) Error() string { return e.Msg }

// parse returns the statement node of one SELECT-like statement.
func (p *duckParser) parse(ctx context.Context, sql string) (node, error) {
	out, err := p.scalar(ctx, "SELECT CAST(json_serialize_sql("+quoteString(sql)+") AS VARCHAR)")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Error      bool   `json:"error"`
		ErrorType  string `json:"error_type"`
		Message    string `json:"error_message"`
		Position   string `json:"position"`
		Statements []struct {
			Node node `json:"node"`
		} `json:"statements"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber() // positions are uint64s (2^64-1 for none): keep them exact
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("pipeline: reading DuckDB's parse tree: %w", err)
	}
	if doc.Error {
		pe := &parseError{Msg: doc.Message, Offset: -1}
		if n, err := strconv.Atoi(doc.Position); err == nil {
			pe.Offset = n
		}
		if doc.ErrorType != "" && doc.ErrorType != "parser" {
			pe.Msg = doc.ErrorType + ": " + doc.Message
		}
		return nil, pe
	}
	if len(doc.Statements) != 1 {
		return nil, &parseError{Msg: fmt.Sprintf("expected one SELECT statement, found %d", len(doc.Statements)), Offset: -1}
	}
	return doc.Statements[0].Node, nil
}

// deparse renders a statement node back to SQL.
func (p *duckParser) deparse(ctx context.Context, st node) (string, error) {
	doc := map[string]any{"error": false, "statements": []any{map[string]any{"node": st, "named_param_map": []any{}}}}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	return p.scalar(ctx, "SELECT json_deserialize_sql(CAST("+quoteString(string(b))+" AS JSON))")
}

// scalar runs a query returning one VARCHAR value.
func (p *duckParser) scalar(ctx context.Context, q string) (string, error) {
	res, err := p.eng.Query(ctx, q)
	if err != nil {
		return "", err
	}
	defer res.Records.Release()
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		if rec.NumRows() > 0 {
			if col, ok := rec.Column(0).(*array.String); ok && col.IsValid(0) {
				return strings.Clone(col.Value(0)), nil // the value aliases the batch's buffer
			}
			return "", fmt.Errorf("pipeline: DuckDB returned %s, expected VARCHAR", rec.Column(0).DataType())
		}
	}
	if err := res.Records.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("pipeline: DuckDB returned no row")
}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// clone deep-copies a parse tree value.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		panic(err)
	}
	return out
}

// walk calls fn for every object of the tree, parents before children; fn returns false to skip
// an object's children. The order is deterministic (an object's children by key, lists in order):
// callers match the references found in a tree with those found in a clone of it by position.
func walk(v any, fn func(n node) bool) {
	switch x := v.(type) {
	case node:
		if !fn(x) {
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(x[k], fn)
		}
	case []any:
		for _, c := range x {
			walk(c, fn)
		}
	}
}

// isTableRef says whether n is a table reference (a FROM item), not an expression or query node.
func isTableRef(n node) bool {
	if _, isExpr := n["class"]; isExpr {
		return false
	}
	switch n["type"] {
	case "BASE_TABLE", "TABLE_FUNCTION", "JOIN", "SUBQUERY", "EMPTY", "EXPRESSION_LIST", "PIVOT", "COLUMN_DATA", "DELIM_GET", "SHOW_REF":
		return true
	}
	return false
}

func str(n node, key string) string {
	s, _ := n[key].(string)
	return s
}

func location(n node) int {
	num, ok := n["query_location"].(json.Number)
	if !ok {
		return -1
	}
	f, err := num.Int64()
	if err != nil || f < 0 || f > 1<<40 {
		return -1
	}
	return int(f)
}

// columnNames returns a COLUMN_REF's name parts.
func columnNames(n node) []string {
	parts, _ := n["column_names"].([]any)
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		s, _ := p.(string)
		out = append(out, s)
	}
	return out
}

// functionArgs returns a FUNCTION expression's arguments: positional ones in order and named ones
// (name => value) by lower-cased name. DuckDB 1.5 serializes arguments as "children" and a named
// argument as an expression whose alias is the name.
func functionArgs(fn node) (positional []node, named map[string]node) {
	named = map[string]node{}
	list, _ := fn["children"].([]any)
	for _, a := range list {
		an, _ := a.(node)
		if an == nil {
			continue
		}
		if al := str(an, "alias"); al != "" {
			named[strings.ToLower(al)] = an
			continue
		}
		positional = append(positional, an)
	}
	return positional, named
}

// constantString returns a VARCHAR constant's text.
func constantString(n node) (string, bool) {
	if n == nil || n["class"] != "CONSTANT" {
		return "", false
	}
	lit, _ := n["value"].(node)
	if lit == nil {
		lit, _ = n["literal"].(node)
	}
	if lit == nil {
		return "", false
	}
	if v, ok := lit["value"].(string); ok {
		return v, true
	}
	if v, ok := lit["text"].(string); ok {
		return v, true
	}
	return "", false
}
