package engine

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	// Version (>= 0) or Timestamp select a snapshot; latest otherwise.
	Version   int64
	Timestamp *time.Time
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
// FROM-first, TABLE, PIVOT...), whose references are then found with DuckDB's own parser.
func isQuery(st statement) bool {
	if len(st.Tokens) == 0 {
		return false
	}
	t := st.Tokens[0]
	if t.punct("(") {
		return true
	}
	for _, w := range []string{"SELECT", "WITH", "VALUES", "FROM", "TABLE", "PIVOT", "UNPIVOT"} {
		if t.is(w) {
			return true
		}
	}
	return false
}

// bindReferences resolves a statement's Delta table references to temporary views on c and
// returns the statement rewritten to use them.
func (e *Engine) bindReferences(ctx context.Context, c *conn, st statement) (string, []ScanReport, error) {
	st, err := desugarDeltaScanAt(st)
	if err != nil {
		return "", nil, err
	}
	var refs []*tableRef
	if isQuery(st) {
		refs, err = e.findQueryRefs(ctx, c, st)
	} else {
		refs, err = e.findTokenRefs(ctx, st)
	}
	if err != nil {
		return "", nil, err
	}
	var edits []edit
	var scans []ScanReport
	for _, ref := range refs {
		view, report, err := e.createRefView(ctx, c, ref)
		if err != nil {
			return "", nil, err
		}
		scans = append(scans, report)
		for _, ed := range ref.Edits {
			if ed.Text == "\x00view" {
				ed.Text = quoteIdent(view)
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
	return applyEdits(st.Text, edits), scans, nil
}

// --- references found by DuckDB's parser ---

// findQueryRefs asks DuckDB to parse the query (json_serialize_sql) and collects its base-table
// references of the form domain.table that name project tables, and its delta_scan calls.
func (e *Engine) findQueryRefs(ctx context.Context, c *conn, st statement) ([]*tableRef, error) {
	out, err := c.queryString(ctx, "SELECT CAST(json_serialize_sql($1::VARCHAR) AS VARCHAR)", driver.NamedValue{Ordinal: 1, Value: st.Text})
	if err != nil {
		return nil, duckError(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("engine: parse tree: %w", err)
	}
	if isErr, _ := doc["error"].(bool); isErr {
		msg, _ := doc["error_message"].(string)
		if pos, ok := doc["position"].(float64); ok {
			return nil, &QueryError{Type: "Parser", Msg: fmt.Sprintf("Parser Error: %s at position %d\n%s", msg, int(pos)+1, caretLine(st.Text, int(pos)))}
		}
		return nil, &QueryError{Type: "Parser", Msg: "Parser Error: " + msg}
	}
	var refs []*tableRef
	var walkErr error
	var walk func(node any, where any)
	walk = func(node any, where any) {
		switch n := node.(type) {
		case map[string]any:
			if w, ok := n["where_clause"]; ok && n["type"] == "SELECT_NODE" {
				where = w
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
			for k, v := range n {
				if k == "where_clause" {
					continue
				}
				walk(v, where)
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
		return nil, walkErr
	}
	return refs, nil
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
	ref.HasAlias = ref.Alias != ""
	ref.Edits = []edit{{Start: st.Tokens[i].Start, End: st.Tokens[i+2].End, Text: "\x00view"}}
	if at, ok := n["at_clause"].(map[string]any); ok && at != nil {
		if err := parseAtClause(st, i+3, at, ref); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// parseAtClause reads AT (VERSION => n | TIMESTAMP => ts) after a reference, whose tokens start at
// from (after an optional alias), and adds the edit removing it.
func parseAtClause(st statement, from int, at map[string]any, ref *tableRef) error {
	k := from
	for k < len(st.Tokens) && !st.Tokens[k].is("AT") {
		k++
	}
	if k+1 >= len(st.Tokens) || !st.Tokens[k+1].punct("(") {
		return fmt.Errorf("engine: cannot locate the AT clause of %s", ref.Name)
	}
	close, ok := matchParen(st.Tokens, k+1)
	if !ok {
		return fmt.Errorf("engine: unbalanced AT clause of %s", ref.Name)
	}
	unit, _ := at["unit"].(string)
	value, ok := constantValue(at["expr"])
	if !ok {
		return fmt.Errorf("engine: %s: AT (%s => ...) needs a constant value", ref.Name, unit)
	}
	if err := setTimeTravel(ref, unit, value); err != nil {
		return err
	}
	ref.Edits = append(ref.Edits, edit{Start: st.Tokens[k].Start, End: st.Tokens[close].End, Text: ""})
	return nil
}

func setTimeTravel(ref *tableRef, unit, value string) error {
	switch strings.ToUpper(unit) {
	case "VERSION":
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("engine: %s: VERSION must be a non-negative integer, got %q", ref.Name, value)
		}
		ref.Version = v
	case "TIMESTAMP":
		micros, err := delta.ParseTimestampMicros(value, false)
		if err != nil {
			if d, derr := delta.ParseDate(value); derr == nil {
				micros = int64(d) * 86400 * 1e6
			} else {
				return fmt.Errorf("engine: %s: TIMESTAMP %q: %v", ref.Name, value, err)
			}
		}
		ts := time.UnixMicro(micros).UTC()
		ref.Timestamp = &ts
	default:
		return fmt.Errorf("engine: %s: unknown time travel unit %q (use VERSION or TIMESTAMP)", ref.Name, unit)
	}
	return nil
}

// constantValue extracts the text of a constant (possibly under a cast) from a parse-tree node.
func constantValue(node any) (string, bool) {
	n, ok := node.(map[string]any)
	if !ok {
		return "", false
	}
	switch n["class"] {
	case "CONSTANT":
		v, _ := n["value"].(map[string]any)
		if isNull, _ := v["is_null"].(bool); isNull {
			return "", false
		}
		return fmt.Sprint(v["value"]), true
	case "CAST":
		return constantValue(n["child"])
	}
	return "", false
}

// deltaScanRef turns a delta_scan('location' [, version => n | timestamp => ts]) call into a
// reference.
func (e *Engine) deltaScanRef(st statement, n map[string]any) (*tableRef, error) {
	fn, _ := n["function"].(map[string]any)
	if name, _ := fn["function_name"].(string); !strings.EqualFold(name, "delta_scan") {
		return nil, nil
	}
	children, _ := fn["children"].([]any)
	if len(children) == 0 {
		return nil, fmt.Errorf("engine: delta_scan needs a location: delta_scan('path or s3://bucket/prefix')")
	}
	loc, ok := constantValue(children[0])
	if !ok {
		return nil, fmt.Errorf("engine: delta_scan's location must be a string constant")
	}
	ref := &tableRef{Name: loc, Location: loc, Version: -1}
	ref.Alias, _ = n["alias"].(string)
	ref.HasAlias = ref.Alias != ""
	for _, c := range children[1:] {
		cm, _ := c.(map[string]any)
		param, _ := cm["alias"].(string)
		val, ok := constantValue(c)
		if !ok || param == "" {
			return nil, fmt.Errorf("engine: delta_scan takes named constants: delta_scan('path', version => 3) or timestamp => '2026-01-01 10:00'")
		}
		if err := setTimeTravel(ref, param, val); err != nil {
			return nil, err
		}
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
	ref.Edits = []edit{{Start: st.Tokens[i].Start, End: st.Tokens[close].End, Text: "\x00view"}}
	return ref, nil
}

// caretLine renders DuckDB-style context: the line holding pos and a caret under it.
func caretLine(src string, pos int) string {
	if pos < 0 || pos > len(src) {
		return ""
	}
	start := strings.LastIndexByte(src[:pos], '\n') + 1
	end := strings.IndexByte(src[pos:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += pos
	}
	return "LINE 1: " + src[start:end] + "\n" + strings.Repeat(" ", len("LINE 1: ")+pos-start) + "^"
}

// --- references found by tokens (statements DuckDB cannot serialize) ---

// findTokenRefs finds, in a statement DuckDB's serializer does not take (DDL, DML), the token
// sequences domain.table that name existing project tables, and delta_scan('location') calls.
// DuckDB still parses and binds the rewritten statement; this only locates names.
func (e *Engine) findTokenRefs(ctx context.Context, st statement) ([]*tableRef, error) {
	var refs []*tableRef
	toks := st.Tokens
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.is("delta_scan") && i+3 < len(toks) && toks[i+1].punct("(") && toks[i+2].Kind == tokString {
			close, ok := matchParen(toks, i+1)
			if !ok {
				return nil, fmt.Errorf("engine: unbalanced delta_scan call")
			}
			ref := &tableRef{Name: toks[i+2].Value, Location: toks[i+2].Value, Version: -1}
			for k := i + 3; k+2 < close; k++ {
				if toks[k].punct(",") && toks[k+2].punct("=>") && k+3 < close {
					if err := setTimeTravel(ref, toks[k+1].name(), toks[k+3].Value); err != nil {
						return nil, err
					}
				}
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
		if ok, _ := e.tableExists(ctx, loc); !ok {
			continue
		}
		ref := &tableRef{Name: t.name() + "." + toks[i+2].name(), Domain: t.name(), Table: toks[i+2].name(), Location: loc, Version: -1}
		ref.Edits = []edit{{Start: t.Start, End: toks[i+2].End, Text: "\x00view"}}
		// An alias right after the name is kept by the caller.
		ref.HasAlias = i+3 < len(toks) && (toks[i+3].is("AS") || toks[i+3].Kind == tokQuoted ||
			(toks[i+3].Kind == tokIdent && !isKeyword(toks[i+3].Text)))
		refs = append(refs, ref)
		i += 2
	}
	return refs, nil
}

// isKeyword lists the words that can follow a table name and are not aliases.
func isKeyword(w string) bool {
	switch strings.ToUpper(w) {
	case "WHERE", "ON", "USING", "JOIN", "LEFT", "RIGHT", "FULL", "INNER", "OUTER", "CROSS", "NATURAL",
		"GROUP", "ORDER", "LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT", "SET", "WHEN", "AT", "SELECT",
		"VALUES", "DEFAULT", "RETURNING", "HAVING", "WINDOW", "QUALIFY", "ANTI", "SEMI", "POSITIONAL", "ASOF", "BY":
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
	if err != nil {
		return nil, nil, err
	}
	return t, snap, nil
}

// createRefView creates the temporary view a reference is replaced by.
func (e *Engine) createRefView(ctx context.Context, c *conn, ref *tableRef) (string, ScanReport, error) {
	t, snap, err := e.snapshotFor(ctx, ref)
	if err != nil {
		return "", ScanReport{}, err
	}
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
		return "", ScanReport{}, fmt.Errorf("engine: view of %s version %d: %w", ref.Name, snap.Version(), duckError(err))
	}
	return view, report, nil
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
	paths, err := e.localPaths(ctx, t, files)
	if err != nil {
		return "", err
	}
	spec := relationSpec{Snapshot: snap}
	var dvRows [][2]any
	for i, f := range files {
		sf := scanFile{Path: paths[i], Add: f}
		if f.DeletionVector != nil {
			dv, err := delta.ReadDeletionVector(ctx, t.Store(), f.DeletionVector)
			if err != nil {
				return "", fmt.Errorf("engine: deletion vector of %s in %s: %w", f.Path, t.Location(), err)
			}
			sf.Deleted = dv.ToArray()
			if sf.Deleted == nil {
				sf.Deleted = []uint64{}
			}
			for _, r := range sf.Deleted {
				dvRows = append(dvRows, [2]any{paths[i], int64(r)})
			}
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
	return relationSQL(spec)
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
// tables, in the read-through cache for remote ones.
func (e *Engine) localPaths(ctx context.Context, t *table.Table, files []*delta.Add) ([]string, error) {
	out := make([]string, len(files))
	remote := storage.IsRemote(t.Location())
	for i, f := range files {
		key, err := delta.FileKeyForPath(t.Location(), f.Path)
		if err != nil {
			return nil, err
		}
		if !remote {
			out[i] = filepath.Join(t.Location(), filepath.FromSlash(key))
		}
	}
	if remote {
		return e.fetchRemote(ctx, t, files)
	}
	return out, nil
}

// desugarDeltaScanAt rewrites `delta_scan('loc') AT (VERSION => n)` (which DuckDB's grammar does not
// accept after a table function) into the equivalent `delta_scan('loc', version => n)`.
func desugarDeltaScanAt(st statement) (statement, error) {
	toks := st.Tokens
	var edits []edit
	for i := 0; i+1 < len(toks); i++ {
		if !toks[i].is("delta_scan") || !toks[i+1].punct("(") {
			continue
		}
		close, ok := matchParen(toks, i+1)
		if !ok || close+2 >= len(toks) || !toks[close+1].is("AT") || !toks[close+2].punct("(") {
			continue
		}
		atClose, ok := matchParen(toks, close+2)
		if !ok {
			return st, fmt.Errorf("engine: unbalanced AT clause after delta_scan")
		}
		inner := st.Text[toks[close+2].End:toks[atClose].Start]
		sep := ", "
		if close == i+2 {
			sep = ""
		}
		edits = append(edits,
			edit{Start: toks[close].Start, End: toks[close].Start, Text: sep + inner},
			edit{Start: toks[close+1].Start, End: toks[atClose].End, Text: ""})
		i = atClose
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
