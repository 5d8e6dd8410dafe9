package engine

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// tableRef is one reference to a Delta table in a statement.
type tableRef struct {
	// Name is the reference as written (domain.table, or the delta_scan location).
	Name string
	// Domain and Table are set for project tables; Location for delta_scan.
	Domain, Table, Location string
	// Version (>= 0) or Timestamp select a snapshot; latest otherwise. TimestampSQL is the SQL
	// expression written for the timestamp (a literal, now() - INTERVAL 1 HOUR, ...): DuckDB
	// evaluates it, in UTC, when the reference is bound, which sets Timestamp.
	Version      int64
	Timestamp    *time.Time
	TimestampSQL string
	// Alias is the alias written after the reference ("" if none or unknown); HasAlias says
	// whether there is one (the rewrite then keeps it instead of adding one).
	Alias    string
	HasAlias bool
	// Edits replace the reference (and its AT clause) in the statement text.
	Edits []edit
	// Filter is the part of the query's WHERE clause that applies to this reference alone, for
	// file pruning (nil if none).
	Filter delta.Expr
}

// isQuery reports whether a statement is a query DuckDB can serialize (SELECT, WITH, VALUES,
// FROM-first, TABLE, UNPIVOT; not PIVOT, which DuckDB turns into several statements), whose
// references are then found with DuckDB's own parser.
func isQuery(st statement) bool {
	if len(st.Tokens) == 0 {
		return false
	}
	t := st.Tokens[0]
	if t.punct("(") {
		return true
	}
	for _, w := range []string{"SELECT", "WITH", "VALUES", "FROM", "TABLE", "UNPIVOT"} {
		if t.is(w) {
			return true
		}
	}
	return false
}

// bindReferences resolves a statement's Delta table references to temporary views on c and
// returns the statement rewritten to use them. References to the same table at the same version
// (or timestamp, or latest) read one snapshot, loaded once per statement, so that a self-join
// sees one version of the table; those that also push down the same filter share one view.
func (e *Engine) bindReferences(ctx context.Context, c *conn, st statement) (string, []ScanReport, error) {
	st, refs, extra, err := e.findRefs(ctx, c, st)
	if err != nil {
		return "", nil, err
	}
	var scans []ScanReport
	views := make([]string, len(refs))
	b := &binding{snaps: map[string]boundSnapshot{}, views: map[string]boundView{}}
	for i, ref := range refs {
		view, report, err := e.refView(ctx, c, b, ref)
		if err != nil {
			return "", nil, err
		}
		scans = append(scans, report)
		views[i] = view
	}
	return rewriteRefs(st, refs, views, extra), scans, nil
}

// findRefs finds a statement's Delta table references: with DuckDB's parser for queries, by
// tokens for other statements. It returns the statement after desugarTimeTravel (the references'
// edits apply to its text) and further edits to apply with theirs.
func (e *Engine) findRefs(ctx context.Context, c *conn, st statement) (statement, []*tableRef, []edit, error) {
	st, err := desugarTimeTravel(st)
	if err != nil {
		return st, nil, nil, err
	}
	var refs []*tableRef
	var extra []edit
	if isQuery(st) {
		refs, extra, err = e.findQueryRefs(ctx, c, st)
		var qe *QueryError
		if errors.As(err, &qe) && strings.Contains(qe.Msg, "Only SELECT statements can be serialized") {
			refs, extra, err = nil, nil, nil // a form isQuery does not know: use tokens
		} else {
			return st, refs, extra, err
		}
	}
	refs, err = e.findTokenRefs(ctx, st)
	return st, refs, extra, err
}

// rewriteRefs returns st's text with every reference replaced by its view (views[i] for refs[i]),
// aliased as the table (or delta_scan) when the reference has no alias of its own, its AT clause
// removed, and the extra edits applied.
func rewriteRefs(st statement, refs []*tableRef, views []string, extra []edit) string {
	edits := append([]edit{}, extra...)
	for i, ref := range refs {
		for _, ed := range ref.Edits {
			if ed.Text == "\x00view" {
				ed.Text = quoteIdent(views[i])
				if !ref.HasAlias {
					alias := ref.Table
					if alias == "" {
						alias = "delta_scan"
					}
					ed.Text += " AS " + quoteIdent(alias)
				}
			}
			edits = append(edits, ed)
		}
	}
	return applyEdits(st.Text, edits)
}

// binding memoises, for one statement, the snapshots and views its references resolved to.
type binding struct {
	snaps map[string]boundSnapshot // by location and time travel
	views map[string]boundView     // by location, version and filter
}

type boundSnapshot struct {
	t    *table.Table
	snap *delta.Snapshot
}

type boundView struct {
	name   string
	report ScanReport
}

// refView returns the temporary view a reference is replaced by, creating it (and loading the
// snapshot) unless an earlier reference of the statement already did.
func (e *Engine) refView(ctx context.Context, c *conn, b *binding, ref *tableRef) (string, ScanReport, error) {
	if err := resolveTimestamp(ctx, c, ref); err != nil {
		return "", ScanReport{}, err
	}
	when := fmt.Sprintf("v%d", ref.Version)
	if ref.Timestamp != nil {
		when = "t" + ref.Timestamp.Format(time.RFC3339Nano)
	}
	sk := ref.Location + "\x00" + when
	bs, ok := b.snaps[sk]
	if !ok {
		t, snap, err := e.snapshotFor(ctx, ref)
		if err != nil {
			return "", ScanReport{}, err
		}
		bs = boundSnapshot{t: t, snap: snap}
		b.snaps[sk] = bs
	}
	filter := ""
	if ref.Filter != nil {
		filter = ref.Filter.String()
	}
	vk := fmt.Sprintf("%s\x00%d\x00%s", ref.Location, bs.snap.Version(), filter)
	if bv, ok := b.views[vk]; ok {
		report := bv.report
		report.Table = ref.Name
		return bv.name, report, nil
	}
	view, report, err := e.snapshotView(ctx, c, ref, bs.t, bs.snap)
	if err != nil {
		return "", ScanReport{}, err
	}
	b.views[vk] = boundView{name: view, report: report}
	return view, report, nil
}

// --- references found by DuckDB's parser ---

// findQueryRefs asks DuckDB to parse the query (json_serialize_sql) and collects its base-table
// references of the form domain.table that name project tables, and its delta_scan calls, in the
// order they appear. It also returns the edits that turn column references qualified by a
// project table's full name (domain.table.column), which DuckDB could not bind to the view, into
// table.column, where the reference has no alias of its own (its view is then aliased as table).
func (e *Engine) findQueryRefs(ctx context.Context, c *conn, st statement) ([]*tableRef, []edit, error) {
	out, err := c.queryString(ctx, "SELECT CAST(json_serialize_sql($1::VARCHAR) AS VARCHAR)", driver.NamedValue{Ordinal: 1, Value: st.Text})
	if err != nil {
		return nil, nil, duckError(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, nil, fmt.Errorf("engine: parse tree: %w", err)
	}
	if isErr, _ := doc["error"].(bool); isErr {
		return nil, nil, parserError(st.Text, doc)
	}
	var refs []*tableRef
	var colRefs []map[string]any // column references of three or more parts
	var walkErr error
	var walk func(node any, where any)
	walk = func(node any, where any) {
		switch n := node.(type) {
		case map[string]any:
			if n["type"] == "SELECT_NODE" {
				where = n // filterFor reads the node's FROM (joins) and WHERE (skipping.go)
			}
			if n["type"] == "BASE_TABLE" {
				if ref, err := e.baseTableRef(st, n); err != nil {
					walkErr = errors.Join(walkErr, err)
				} else if ref != nil {
					ref.Filter = filterFor(where, ref)
					refs = append(refs, ref)
				}
			}
			if n["type"] == "TABLE_FUNCTION" {
				if ref, err := e.deltaScanRef(st, n); err != nil {
					walkErr = errors.Join(walkErr, err)
				} else if ref != nil {
					ref.Filter = filterFor(where, ref)
					refs = append(refs, ref)
				}
			}
			if n["class"] == "COLUMN_REF" {
				if names, _ := n["column_names"].([]any); len(names) >= 3 {
					colRefs = append(colRefs, n)
				}
			}
			keys := make([]string, 0, len(n))
			for k := range n {
				if k != "where_clause" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(n[k], where)
			}
			if w, ok := n["where_clause"]; ok {
				walk(w, nil)
			}
		case []any:
			for _, v := range n {
				walk(v, where)
			}
		}
	}
	walk(doc["statements"], nil)
	if walkErr != nil {
		return nil, nil, walkErr
	}
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].Edits[0].Start < refs[j].Edits[0].Start })
	return refs, qualifiedColumnEdits(st, refs, colRefs), nil
}

// qualifiedColumnEdits drops the domain from column references domain.table.column[.field...]
// whose domain.table is a reference of the statement without an alias.
func qualifiedColumnEdits(st statement, refs []*tableRef, colRefs []map[string]any) []edit {
	var edits []edit
	for _, n := range colRefs {
		names, _ := n["column_names"].([]any)
		domain, _ := names[0].(string)
		tbl, _ := names[1].(string)
		match := false
		for _, r := range refs {
			if r.Domain != "" && !r.HasAlias && strings.EqualFold(r.Domain, domain) && strings.EqualFold(r.Table, tbl) {
				match = true
			}
		}
		pos, _ := n["query_location"].(float64)
		i := tokenAt(st.Tokens, int(pos))
		if !match || i < 0 || i+2 >= len(st.Tokens) || st.Tokens[i].name() != domain || !st.Tokens[i+1].punct(".") || st.Tokens[i+2].name() != tbl {
			continue
		}
		edits = append(edits, edit{Start: st.Tokens[i].Start, End: st.Tokens[i+2].Start, Text: ""})
	}
	return edits
}

// parserError renders the error json_serialize_sql reports as DuckDB renders its own: the message,
// then the statement's line holding the error with a caret under it. json_serialize_sql gives the
// position even where DuckDB's own message has none ("syntax error at end of input"), so the
// message also names it, counting characters from 1. Unlike query_location in the parse tree (a
// byte offset), the error position counts characters (code points).
func parserError(src string, doc map[string]any) error {
	msg, _ := doc["error_message"].(string)
	chars := -1
	switch p := doc["position"].(type) {
	case float64:
		chars = int(p)
	case string:
		if n, err := strconv.Atoi(p); err == nil {
			chars = n
		}
	}
	if chars < 0 || chars > utf8.RuneCountInString(src) {
		return &QueryError{Type: "Parser", Msg: "Parser Error: " + msg}
	}
	pos := len(src) // the byte offset of character number chars
	n := 0
	for i := range src {
		if n == chars {
			pos = i
			break
		}
		n++
	}
	return &QueryError{Type: "Parser", Msg: fmt.Sprintf("Parser Error: %s at position %d\n\n%s", msg, chars+1, caretLine(src, pos))}
}

// tokenAt returns the index of the token starting at byte offset pos.
func tokenAt(toks []token, pos int) int {
	for i, t := range toks {
		if t.Start == pos {
			return i
		}
	}
	return -1
}

// baseTableRef turns a BASE_TABLE node into a reference when it is domain.table of the project.
func (e *Engine) baseTableRef(st statement, n map[string]any) (*tableRef, error) {
	schema, _ := n["schema_name"].(string)
	name, _ := n["table_name"].(string)
	catalog, _ := n["catalog_name"].(string)
	if schema == "" || catalog != "" {
		return nil, nil // DuckDB's own tables and CTEs
	}
	if e.opts.Project == nil {
		return nil, nil // then DuckDB reports the unknown table
	}
	loc, err := e.opts.Project.TableLocation(schema, name)
	if err != nil {
		return nil, nil
	}
	pos, ok := n["query_location"].(float64)
	i := tokenAt(st.Tokens, int(pos))
	if !ok || i < 0 || i+2 >= len(st.Tokens) || !st.Tokens[i+1].punct(".") {
		return nil, fmt.Errorf("engine: cannot locate the reference %s.%s in the statement", schema, name)
	}
	ref := &tableRef{Name: schema + "." + name, Domain: schema, Table: name, Location: loc, Version: -1}
	ref.Alias, _ = n["alias"].(string)
	// TABLE name, DESCRIBE name, SHOW name and SUMMARIZE name take no alias: there, the view keeps
	// its own name (no column names it).
	ref.HasAlias = ref.Alias != "" || i > 0 && (st.Tokens[i-1].is("TABLE") || st.Tokens[i-1].is("DESCRIBE") ||
		st.Tokens[i-1].is("SHOW") || st.Tokens[i-1].is("SUMMARIZE"))
	ref.Edits = []edit{{Start: st.Tokens[i].Start, End: st.Tokens[i+2].End, Text: "\x00view"}}
	if at, ok := n["at_clause"].(map[string]any); ok && at != nil {
		if err := parseAtClause(st, i+3, ref); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// parseAtClause reads AT (VERSION => n | TIMESTAMP => ts) after a reference, whose tokens start at
// from (after an optional alias), and adds the edit removing it.
func parseAtClause(st statement, from int, ref *tableRef) error {
	toks := st.Tokens
	k := from
	for k < len(toks) && !toks[k].is("AT") {
		k++
	}
	if k+1 >= len(toks) || !toks[k+1].punct("(") {
		return fmt.Errorf("engine: cannot locate the AT clause of %s", ref.Name)
	}
	close, ok := matchParen(toks, k+1)
	if !ok {
		return fmt.Errorf("engine: unbalanced AT clause of %s", ref.Name)
	}
	if close < k+5 || toks[k+2].name() == "" || !toks[k+3].punct("=>") {
		return fmt.Errorf("engine: %s: time travel is AT (VERSION => n) or AT (TIMESTAMP => ts)", ref.Name)
	}
	if err := setTimeTravel(ref, toks[k+2].name(), st.Text[toks[k+4].Start:toks[close-1].End], toks[k+4:close]); err != nil {
		return err
	}
	ref.Edits = append(ref.Edits, edit{Start: toks[k].Start, End: toks[close].End, Text: ""})
	return nil
}

// setTimeTravel records a reference's time travel: unit is VERSION or TIMESTAMP (any case), expr
// the SQL of the value and exprToks its tokens. A version must be a non-negative integer literal;
// a timestamp may be any constant expression DuckDB can cast to TIMESTAMPTZ (evaluated later, see
// tableRef.TimestampSQL).
func setTimeTravel(ref *tableRef, unit, expr string, exprToks []token) error {
	switch strings.ToUpper(unit) {
	case "VERSION":
		var v int64 = -1
		if len(exprToks) == 1 && exprToks[0].Kind == tokNumber {
			if n, err := strconv.ParseInt(exprToks[0].Text, 10, 64); err == nil {
				v = n
			}
		}
		if v < 0 {
			return fmt.Errorf("engine: %s: VERSION must be a non-negative integer, got %s", ref.Name, expr)
		}
		ref.Version = v
	case "TIMESTAMP":
		if strings.TrimSpace(expr) == "" {
			return fmt.Errorf("engine: %s: TIMESTAMP needs a value", ref.Name)
		}
		ref.TimestampSQL = expr
	default:
		return fmt.Errorf("engine: %s: unknown time travel unit %q (use VERSION or TIMESTAMP)", ref.Name, unit)
	}
	return nil
}

// resolveTimestamp evaluates a reference's TimestampSQL with DuckDB on c (session time zone UTC,
// so a TIMESTAMP without zone is UTC) and sets its Timestamp.
func resolveTimestamp(ctx context.Context, c *conn, ref *tableRef) error {
	if ref.TimestampSQL == "" || ref.Timestamp != nil {
		return nil
	}
	out, err := c.queryString(ctx, "SELECT CAST(epoch_us(CAST(("+ref.TimestampSQL+"\n) AS TIMESTAMPTZ)) AS VARCHAR)")
	if err != nil {
		return fmt.Errorf("engine: %s: TIMESTAMP %s: %w", ref.Name, ref.TimestampSQL, duckError(err))
	}
	us, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return fmt.Errorf("engine: %s: TIMESTAMP %s is not a timestamp (%s)", ref.Name, ref.TimestampSQL, out)
	}
	ts := time.UnixMicro(us).UTC()
	ref.Timestamp = &ts
	return nil
}

// deltaScanCall reads the arguments of delta_scan(...) whose parentheses are toks[open] and
// toks[close]: a location (a string literal), then named time travel (version => n, timestamp =>
// ts; the name may be quoted, as DuckDB's grammar needs for timestamp).
func deltaScanCall(st statement, open, close int) (*tableRef, error) {
	toks := st.Tokens
	var args [][2]int // token ranges [from, to) of the arguments
	depth, from := 0, open+1
	for k := open + 1; k < close; k++ {
		switch {
		case toks[k].punct("(") || toks[k].punct("["):
			depth++
		case toks[k].punct(")") || toks[k].punct("]"):
			depth--
		case toks[k].punct(",") && depth == 0:
			args = append(args, [2]int{from, k})
			from = k + 1
		}
	}
	if from < close {
		args = append(args, [2]int{from, close})
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("engine: delta_scan needs a location: delta_scan('path or s3://bucket/prefix')")
	}
	if a := args[0]; a[1]-a[0] != 1 || toks[a[0]].Kind != tokString {
		return nil, fmt.Errorf("engine: delta_scan's location must be a string constant: delta_scan('path or s3://bucket/prefix')")
	}
	loc := toks[args[0][0]].Value
	ref := &tableRef{Name: loc, Location: loc, Version: -1}
	for _, a := range args[1:] {
		if a[1]-a[0] < 3 || toks[a[0]].name() == "" || !toks[a[0]+1].punct("=>") {
			return nil, fmt.Errorf("engine: delta_scan takes named arguments after the location: delta_scan('path', version => 3) or delta_scan('path', \"timestamp\" => '2026-01-01 10:00')")
		}
		if err := setTimeTravel(ref, toks[a[0]].name(), st.Text[toks[a[0]+2].Start:toks[a[1]-1].End], toks[a[0]+2:a[1]]); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// deltaScanRef turns a delta_scan('location' [, version => n | timestamp => ts]) call into a
// reference.
func (e *Engine) deltaScanRef(st statement, n map[string]any) (*tableRef, error) {
	fn, _ := n["function"].(map[string]any)
	if name, _ := fn["function_name"].(string); !strings.EqualFold(name, "delta_scan") {
		return nil, nil
	}
	pos, _ := fn["query_location"].(float64)
	i := tokenAt(st.Tokens, int(pos))
	if i < 0 || i+1 >= len(st.Tokens) || !st.Tokens[i+1].punct("(") {
		return nil, fmt.Errorf("engine: cannot locate delta_scan in the statement")
	}
	close, ok := matchParen(st.Tokens, i+1)
	if !ok {
		return nil, fmt.Errorf("engine: unbalanced delta_scan call")
	}
	ref, err := deltaScanCall(st, i+1, close)
	if err != nil {
		return nil, err
	}
	ref.Alias, _ = n["alias"].(string)
	ref.HasAlias = ref.Alias != ""
	ref.Edits = []edit{{Start: st.Tokens[i].Start, End: st.Tokens[close].End, Text: "\x00view"}}
	return ref, nil
}

// caretLine renders DuckDB-style context for byte offset pos of src: "LINE n: " and the line
// holding pos (cut to about 80 characters around pos, with "..." where cut), then a caret under
// the character at pos.
func caretLine(src string, pos int) string {
	if pos < 0 || pos > len(src) {
		return ""
	}
	lineNo := strings.Count(src[:pos], "\n") + 1
	start := strings.LastIndexByte(src[:pos], '\n') + 1
	end := strings.IndexByte(src[pos:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += pos
	}
	before := []rune(strings.TrimRight(src[start:pos], "\r"))
	after := []rune(strings.TrimRight(src[pos:end], "\r"))
	const context = 40
	prefix, suffix := "", ""
	if len(before) > context {
		before = before[len(before)-context:]
		prefix = "..."
	}
	if len(after) > context {
		after = after[:context]
		suffix = "..."
	}
	head := fmt.Sprintf("LINE %d: ", lineNo)
	return head + prefix + string(before) + string(after) + suffix + "\n" +
		strings.Repeat(" ", utf8.RuneCountInString(head+prefix)+len(before)) + "^"
}

// --- references found by tokens (statements DuckDB cannot serialize) ---

// findTokenRefs finds, in a statement DuckDB's serializer does not take (DDL, DML), the token
// sequences domain.table that name existing project tables, and delta_scan('location') calls.
// DuckDB still parses and binds the rewritten statement; this only locates names.
func (e *Engine) findTokenRefs(ctx context.Context, st statement) ([]*tableRef, error) {
	var refs []*tableRef
	toks := st.Tokens
	exists := map[string]bool{} // by location: a statement names alias.column pairs many times
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.is("delta_scan") && i+1 < len(toks) && toks[i+1].punct("(") {
			close, ok := matchParen(toks, i+1)
			if !ok {
				return nil, fmt.Errorf("engine: unbalanced delta_scan call")
			}
			ref, err := deltaScanCall(st, i+1, close)
			if err != nil {
				return nil, err
			}
			ref.Edits = []edit{{Start: t.Start, End: toks[close].End, Text: "\x00view"}}
			ref.HasAlias = close+1 < len(toks) && (toks[close+1].is("AS") || toks[close+1].Kind == tokQuoted ||
				(toks[close+1].Kind == tokIdent && !isKeyword(toks[close+1].Text)))
			refs = append(refs, ref)
			i = close
			continue
		}
		if e.opts.Project == nil || t.name() == "" || i+2 >= len(toks) || !toks[i+1].punct(".") || toks[i+2].name() == "" {
			continue
		}
		if i > 0 && toks[i-1].punct(".") || i+3 < len(toks) && (toks[i+3].punct(".") || toks[i+3].punct("(")) {
			continue // part of a longer name, or a function call
		}
		loc, err := e.opts.Project.TableLocation(t.name(), toks[i+2].name())
		if err != nil {
			continue
		}
		ok, known := exists[loc]
		if !known {
			ok, _ = e.tableExists(ctx, loc)
			exists[loc] = ok
		}
		if !ok {
			continue
		}
		ref := &tableRef{Name: t.name() + "." + toks[i+2].name(), Domain: t.name(), Table: toks[i+2].name(), Location: loc, Version: -1}
		ref.Edits = []edit{{Start: t.Start, End: toks[i+2].End, Text: "\x00view"}}
		// An alias right after the name is kept by the caller; DESCRIBE, SHOW and SUMMARIZE take
		// a bare name (no alias).
		ref.HasAlias = i+3 < len(toks) && (toks[i+3].is("AS") || toks[i+3].Kind == tokQuoted ||
			(toks[i+3].Kind == tokIdent && !isKeyword(toks[i+3].Text))) ||
			i > 0 && (toks[i-1].is("DESCRIBE") || toks[i-1].is("SHOW") || toks[i-1].is("SUMMARIZE"))
		next := i + 2
		// Time travel after the name and its alias (desugarTimeTravel put the alias first).
		if j := aliasEnd(toks, i+3); j+1 < len(toks) && toks[j].is("AT") && toks[j+1].punct("(") {
			if err := parseAtClause(st, j, ref); err != nil {
				return nil, err
			}
			next, _ = matchParen(toks, j+1)
		}
		refs = append(refs, ref)
		i = next
	}
	return refs, nil
}

// isKeyword lists the words that can follow a table name and are not aliases.
func isKeyword(w string) bool {
	switch strings.ToUpper(w) {
	case "WHERE", "ON", "USING", "JOIN", "LEFT", "RIGHT", "FULL", "INNER", "OUTER", "CROSS", "NATURAL",
		"GROUP", "ORDER", "LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT", "SET", "WHEN", "AT", "SELECT",
		"VALUES", "DEFAULT", "RETURNING", "HAVING", "WINDOW", "QUALIFY", "ANTI", "SEMI", "POSITIONAL", "ASOF", "BY",
		"TABLESAMPLE", "PIVOT", "UNPIVOT", "FETCH", "FOR", "LATERAL", "INTO", "THEN", "AND", "OR", "NOT", "END", "AS":
		return true
	}
	return false
}

func (e *Engine) tableExists(ctx context.Context, loc string) (bool, error) {
	t, err := e.openTable(ctx, loc)
	if err != nil {
		return false, err
	}
	return t.Exists(ctx)
}

// --- views ---

// snapshotFor loads the snapshot a reference asks for.
func (e *Engine) snapshotFor(ctx context.Context, ref *tableRef) (*table.Table, *delta.Snapshot, error) {
	t, err := e.openTable(ctx, ref.Location)
	if err != nil {
		return nil, nil, err
	}
	var snap *delta.Snapshot
	switch {
	case ref.Timestamp != nil:
		snap, err = t.SnapshotAt(ctx, *ref.Timestamp)
	default:
		snap, err = t.Snapshot(ctx, ref.Version)
	}
	if errors.Is(err, delta.ErrNotATable) && ref.Domain != "" {
		return nil, nil, fmt.Errorf("%w: %s (no Delta table at %s)", ErrUnknownTable, ref.Name, ref.Location)
	}
	if err != nil && ref.Domain != "" {
		return nil, nil, fmt.Errorf("%s: %w", ref.Name, err) // the error names the location only
	}
	if err != nil {
		return nil, nil, err
	}
	return t, snap, nil
}

// snapshotView creates a temporary view on c over the files of snap that ref's filter may match.
func (e *Engine) snapshotView(ctx context.Context, c *conn, ref *tableRef, t *table.Table, snap *delta.Snapshot) (string, ScanReport, error) {
	files, report, err := e.planScan(ctx, t, snap, ref.Filter)
	if err != nil {
		return "", ScanReport{}, err
	}
	report.Table = ref.Name
	view := fmt.Sprintf("strata_ref_%d", e.seq.Add(1))
	body, err := e.relationFor(ctx, c, t, snap, files)
	if err != nil {
		return "", ScanReport{}, err
	}
	if err := c.exec(ctx, "CREATE TEMP VIEW "+quoteIdent(view)+" AS "+body); err != nil {
		if missing := missingDataFile(t, files); missing != "" {
			return "", ScanReport{}, fmt.Errorf("engine: %s version %d: data file %s: %w", ref.Name, snap.Version(), missing, os.ErrNotExist)
		}
		return "", ScanReport{}, fmt.Errorf("engine: view of %s version %d: %w", ref.Name, snap.Version(), duckError(err))
	}
	return view, report, nil
}

// missingDataFile returns the key of the first of files (of a local table) that does not exist,
// or "" if all do (or the table is remote: its files were fetched already).
func missingDataFile(t *table.Table, files []*delta.Add) string {
	if storage.IsRemote(t.Location()) {
		return ""
	}
	for _, f := range files {
		key, err := delta.FileKeyForPath(t.Location(), f.Path)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(t.Location(), filepath.FromSlash(key))); errors.Is(err, os.ErrNotExist) {
			return key
		}
	}
	return ""
}

// planScan chooses the files of a snapshot a reference needs: those that may hold rows matching
// filter (partition values and min/max statistics), and reports what was skipped.
func (e *Engine) planScan(ctx context.Context, t *table.Table, snap *delta.Snapshot, filter delta.Expr) ([]*delta.Add, ScanReport, error) {
	report := ScanReport{Location: t.Location(), Version: snap.Version(), FilesTotal: len(snap.Files())}
	var keep []*delta.Add
	for _, f := range snap.Files() {
		ok, err := mayMatch(snap, f, filter)
		if err != nil {
			return nil, report, err
		}
		if !ok {
			report.FilesSkipped++
			report.BytesSkipped += f.Size
			continue
		}
		keep = append(keep, f)
		report.BytesScanned += f.Size
	}
	report.FilesScanned = len(keep)
	if filter != nil {
		report.Filter = filter.String()
	}
	return keep, report, nil
}

// relationFor builds the relation SQL of a snapshot restricted to files, fetching remote files
// into the local cache and loading deletion vectors into a temp table on c.
func (e *Engine) relationFor(ctx context.Context, c *conn, t *table.Table, snap *delta.Snapshot, files []*delta.Add) (string, error) {
	paths, err := e.localPaths(ctx, c, t, files)
	if err != nil {
		return "", err
	}
	spec := relationSpec{Snapshot: snap}
	deleted, err := readDeletionVectors(ctx, t, files)
	if err != nil {
		return "", err
	}
	var dvRows [][2]any
	for i, f := range files {
		sf := scanFile{Path: paths[i], Add: f, Deleted: deleted[i]}
		for _, r := range sf.Deleted {
			dvRows = append(dvRows, [2]any{paths[i], int64(r)})
		}
		spec.Files = append(spec.Files, sf)
	}
	if len(dvRows) > 0 || hasDV(files) {
		spec.DVTable = fmt.Sprintf("strata_dv_%d", e.seq.Add(1))
		if err := c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(spec.DVTable)+" (file VARCHAR, row BIGINT)"); err != nil {
			return "", duckError(err)
		}
		app, err := duckdb.NewAppender(c.dc, "temp", "main", spec.DVTable)
		if err != nil {
			return "", fmt.Errorf("engine: deletion vectors: %w", err)
		}
		for _, r := range dvRows {
			if err := app.AppendRow(r[0], r[1]); err != nil {
				app.Close()
				return "", fmt.Errorf("engine: deletion vectors: %w", err)
			}
		}
		if err := app.Close(); err != nil {
			return "", fmt.Errorf("engine: deletion vectors: %w", err)
		}
	}
	if len(snap.PartitionColumns()) > 0 && relationGroups(spec.Files) > maxUnionGroups {
		spec.PartTable = fmt.Sprintf("strata_parts_%d", e.seq.Add(1))
		if err := e.fillPartTable(ctx, c, spec); err != nil {
			return "", err
		}
	}
	return relationSQL(spec)
}

// fillPartTable creates spec.PartTable on c and appends every file's partition values (see
// relationSpec.PartTable).
func (e *Engine) fillPartTable(ctx context.Context, c *conn, spec relationSpec) error {
	snap := spec.Snapshot
	schema := snap.Schema()
	var names []string // lower-case partition column names, in schema order
	cols := []string{"file VARCHAR"}
	for _, f := range schema.Fields {
		for _, p := range snap.PartitionColumns() {
			if strings.EqualFold(p, f.Name) {
				names = append(names, strings.ToLower(f.Name))
				cols = append(cols, fmt.Sprintf("v%d VARCHAR", len(names)-1))
			}
		}
	}
	if err := c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(spec.PartTable)+" ("+strings.Join(cols, ", ")+")"); err != nil {
		return duckError(err)
	}
	app, err := duckdb.NewAppender(c.dc, "temp", "main", spec.PartTable)
	if err != nil {
		return fmt.Errorf("engine: partition values: %w", err)
	}
	row := make([]driver.Value, len(cols))
	for _, f := range spec.Files {
		vals, err := delta.TypedPartitionValues(schema, snap.PartitionColumns(), snap.ColumnMappingMode(), f.Add.PartitionValues)
		if err != nil {
			app.Close()
			return err
		}
		row[0] = f.Path
		for i, n := range names {
			if row[i+1], err = partitionText(vals[n]); err != nil {
				app.Close()
				return err
			}
		}
		if err := app.AppendRow(row...); err != nil {
			app.Close()
			return fmt.Errorf("engine: partition values of %s: %w", f.Add.Path, err)
		}
	}
	if err := app.Close(); err != nil {
		return fmt.Errorf("engine: partition values: %w", err)
	}
	return nil
}

// dvParallel bounds the deletion vector files read at once.
const dvParallel = 8

// readDeletionVectors reads the deleted row positions of every file with a deletion vector (nil
// for the others, an empty non-nil slice for an empty vector), several files at once.
func readDeletionVectors(ctx context.Context, t *table.Table, files []*delta.Add) ([][]uint64, error) {
	out := make([][]uint64, len(files))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, dvParallel)
	errs := make(chan error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		if f.DeletionVector == nil {
			continue
		}
		wg.Add(1)
		go func(i int, f *delta.Add) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			defer func() { <-sem }()
			dv, err := delta.ReadDeletionVector(ctx, t.Store(), f.DeletionVector)
			if err != nil {
				errs <- fmt.Errorf("engine: deletion vector of %s in %s: %w", f.Path, t.Location(), err)
				cancel()
				return
			}
			rows := dv.ToArray()
			if rows == nil {
				rows = []uint64{}
			}
			out[i] = rows
		}(i, f)
	}
	wg.Wait()
	close(errs)
	var first error // the cause, rather than the cancellation it caused in the others
	for err := range errs {
		if first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

func hasDV(files []*delta.Add) bool {
	for _, f := range files {
		if f.DeletionVector != nil {
			return true
		}
	}
	return false
}

// localPaths returns paths DuckDB can read for the files: under the table directory for local
// tables; for remote ones, in the read-through cache, where they stay (pinned by a lease on c)
// until c is closed.
func (e *Engine) localPaths(ctx context.Context, c *conn, t *table.Table, files []*delta.Add) ([]string, error) {
	out := make([]string, len(files))
	remote := storage.IsRemote(t.Location())
	var want []cacheFile
	for i, f := range files {
		key, err := delta.FileKeyForPath(t.Location(), f.Path)
		if err != nil {
			return nil, err
		}
		if remote {
			want = append(want, cacheFile{Key: key, Size: f.Size})
		} else {
			out[i] = filepath.Join(t.Location(), filepath.FromSlash(key))
		}
	}
	if !remote || len(want) == 0 {
		return out, nil
	}
	if c.lease == nil {
		c.lease = e.cache.newLease()
	}
	return c.lease.acquire(ctx, t.Store(), want)
}

// desugarTimeTravel rewrites the time-travel forms DuckDB's grammar does not take into the ones it
// does, by tokens:
//   - delta_scan('loc') [[AS] alias] AT (VERSION => n) becomes delta_scan('loc', version => n)
//     [[AS] alias] (DuckDB takes no AT clause after a table function);
//   - domain.table AT (...) [AS] alias becomes domain.table [AS] alias AT (...) (DuckDB wants
//     the alias before the AT clause; Spark and Snowflake users write it after).
func desugarTimeTravel(st statement) (statement, error) {
	toks := st.Tokens
	var edits []edit
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].is("delta_scan") && toks[i+1].punct("(") {
			close, ok := matchParen(toks, i+1)
			if !ok {
				continue
			}
			// DuckDB's grammar takes no bare timestamp => in a call: quote the name.
			for k := i + 2; k+1 < close; k++ {
				if toks[k].is("timestamp") && toks[k+1].punct("=>") && toks[k-1].punct(",") {
					edits = append(edits, edit{Start: toks[k].Start, End: toks[k].End, Text: `"timestamp"`})
				}
			}
			at := close + 1
			if end := aliasEnd(toks, at); end > at {
				at = end
			}
			if at+1 >= len(toks) || !toks[at].is("AT") || !toks[at+1].punct("(") {
				i = close
				continue
			}
			atClose, ok := matchParen(toks, at+1)
			if !ok {
				return st, fmt.Errorf("engine: unbalanced AT clause after delta_scan")
			}
			if atClose < at+5 || toks[at+2].Kind != tokIdent || !toks[at+3].punct("=>") {
				return st, fmt.Errorf("engine: delta_scan: time travel is AT (VERSION => n) or AT (TIMESTAMP => ts)")
			}
			inner := quoteIdent(strings.ToLower(toks[at+2].Text)) + " " + st.Text[toks[at+3].Start:toks[atClose].Start]
			sep := ", "
			if close == i+2 {
				sep = ""
			}
			edits = append(edits,
				edit{Start: toks[close].Start, End: toks[close].Start, Text: sep + inner},
				edit{Start: toks[at-1].End, End: toks[atClose].End, Text: ""})
			i = atClose
			continue
		}
		if toks[i].name() != "" && (i == 0 || !toks[i-1].punct(".")) && i+4 < len(toks) && toks[i+1].punct(".") &&
			toks[i+2].name() != "" && toks[i+3].is("AT") && toks[i+4].punct("(") {
			atClose, ok := matchParen(toks, i+4)
			if !ok {
				return st, fmt.Errorf("engine: unbalanced AT clause after %s.%s", toks[i].name(), toks[i+2].name())
			}
			end := aliasEnd(toks, atClose+1)
			if end > atClose+1 {
				alias := st.Text[toks[atClose+1].Start:toks[end-1].End]
				edits = append(edits,
					edit{Start: toks[i+2].End, End: toks[i+2].End, Text: " " + alias},
					edit{Start: toks[atClose].End, End: toks[end-1].End, Text: ""})
			}
			i = atClose
		}
	}
	if len(edits) == 0 {
		return st, nil
	}
	text := applyEdits(st.Text, edits)
	toks2, err := tokenize(text)
	if err != nil {
		return st, err
	}
	return statement{Text: text, Tokens: toks2, Offset: st.Offset}, nil
}

// aliasEnd returns the index after a table alias starting at toks[i]: [AS] name [(column, ...)];
// i itself when there is none.
func aliasEnd(toks []token, i int) int {
	j := i
	if j < len(toks) && toks[j].is("AS") {
		j++
	}
	if j >= len(toks) || !(toks[j].Kind == tokQuoted || toks[j].Kind == tokIdent && !isKeyword(toks[j].Text)) {
		return i
	}
	j++
	if j < len(toks) && toks[j].punct("(") {
		if close, ok := matchParen(toks, j); ok {
			j = close + 1
		}
	}
	return j
}
